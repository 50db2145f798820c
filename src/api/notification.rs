//! `/api/notification`: e-mail subscriptions to the notice topic.

use actix_web::{HttpResponse, web};
use email_address::{EmailAddress, Options};

use super::{ApiError, AppState};
use crate::notify::Subscription;

#[utoipa::path(get, path = "/notification", security(("bearer_token" = [])), tag = "notification", responses((status = 200, body = [Subscription])))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.backends.notifier.subscriptions().await?))
}

/// The address is checked here: SNS accepts many strings that no mail
/// server would. Only a bare address on a domain with a top-level part:
/// no display name (`Bob <b@x.com>`), no IP literal, no `localhost`.
fn address(email: &str) -> Result<&str, ApiError> {
    let strict = Options::default().without_display_text().without_domain_literal().with_required_tld();
    match EmailAddress::parse_with_options(email, strict) {
        Ok(_) => Ok(email),
        Err(_) => Err(ApiError::InvalidEmail),
    }
}

#[utoipa::path(post, path = "/notification/{email_address}", security(("bearer_token" = [])), tag = "notification",
    params(("email_address" = String, Path)),
    responses((status = 200, content((String = "application/json", example = json!("Successfully subscribed.")))),
        (status = 400, content((String = "application/json", example = json!("Invalid e-mail address!"))))))]
pub async fn subscribe(state: web::Data<AppState>, email: web::Path<String>) -> Result<HttpResponse, ApiError> {
    state.backends.notifier.subscribe(address(&email)?).await?;
    Ok(HttpResponse::Ok().json("Successfully subscribed."))
}

#[utoipa::path(delete, path = "/notification/{email_address}", security(("bearer_token" = [])), tag = "notification",
    params(("email_address" = String, Path)),
    responses((status = 200, content((String = "application/json", example = json!("Successfully unsubscribed.")))),
        (status = 404, content((String = "application/json", example = json!("Subscription is not found!")))),
        (status = 412, content((String = "application/json", example = json!("Subscription is still pending!"))))))]
pub async fn unsubscribe(state: web::Data<AppState>, email: web::Path<String>) -> Result<HttpResponse, ApiError> {
    state.backends.notifier.unsubscribe(&email).await?;
    Ok(HttpResponse::Ok().json("Successfully unsubscribed."))
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn only_bare_addresses_on_real_domains_are_taken() {
        for good in ["bob@example.com", "a.b+tag@mail.example.co.uk"] {
            assert!(address(good).is_ok(), "{good}");
        }
        for bad in ["Bob <b@x.com>", "<b@x.com>", "a@[1.2.3.4]", "a@localhost", "a@", "@x.com", "a b@x.com", ""] {
            assert!(address(bad).is_err(), "{bad}");
        }
    }
}
