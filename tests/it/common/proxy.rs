//! A TCP proxy in front of a service, which a test takes down (new
//! connections are dropped, open ones cut) and brings back: an outage of
//! moto that keeps its buckets, queues and topics.

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub struct Proxy {
    pub url: String,
    down: watch::Sender<bool>,
}

impl Proxy {
    /// Forwards `127.0.0.1:<free port>` to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (down, watching) = watch::channel(false);
        let target = target.to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                tokio::spawn(forward(client, target.clone(), watching.clone()));
            }
        });
        Self { url, down }
    }

    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

async fn forward(mut client: TcpStream, target: String, mut down: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = down.wait_for(|down| *down) => {}
    }
}
