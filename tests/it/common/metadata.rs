//! A stand-in for EC2 instance metadata (IMDSv2, as the SDK's client asks
//! it): a session token, then the instance's public hostname for requests
//! that carry the token.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

const TOKEN: &str = "stand-in-token";

/// Serves `hostname` as the instance's public hostname; its URL, for
/// `aws.metadata_url`. It runs until the test's runtime ends.
pub fn start(hostname: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .route(
                "/latest/api/token",
                web::put().to(|req: HttpRequest| async move {
                    let ttl = req.headers().get("x-aws-ec2-metadata-token-ttl-seconds").cloned();
                    let mut response = HttpResponse::Ok();
                    if let Some(ttl) = ttl {
                        response.insert_header(("x-aws-ec2-metadata-token-ttl-seconds", ttl));
                    }
                    response.body(TOKEN)
                }),
            )
            .route(
                "/latest/meta-data/public-hostname",
                web::get().to(move |req: HttpRequest| async move {
                    match req.headers().get("x-aws-ec2-metadata-token") {
                        Some(token) if token == TOKEN => HttpResponse::Ok().body(hostname),
                        _ => HttpResponse::Unauthorized().finish(),
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_rt::spawn(server);
    url
}
