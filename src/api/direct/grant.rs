//! Grants of one direct upload to imaged itself: what may be put (key,
//! type, size) and until when, signed with a key this process drew at
//! start. A grant is good for one upload that succeeds; a failed attempt
//! gives it back for a retry, and a restart voids every grant.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::api::ApiError;

type Signer = Hmac<Sha256>;

pub struct Grants {
    key: [u8; 32],
    lifetime: Duration,
    /// Object keys of grants being used or used, with their expiry (unix
    /// seconds): past it, the grant is refused as expired anyway.
    used: Mutex<HashMap<String, i64>>,
}

/// What a grant allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Granted {
    pub object_key: String,
    pub content_type: String,
    pub size: u64,
    /// Unix seconds.
    expires: i64,
}

const EXPIRED: ApiError = ApiError::Forbidden("this upload URL has expired; ask for a new one");
const INVALID: ApiError = ApiError::Forbidden("this upload URL was not issued by this imaged (or it restarted since)");

impl Grants {
    pub fn new(lifetime: Duration) -> Self {
        let mut key = [0; 32];
        getrandom::fill(&mut key).expect("the OS has a random source");
        Self { key, lifetime, used: Mutex::default() }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The grant's text, for a URL path segment: `payload.signature`.
    pub fn issue(&self, object_key: &str, content_type: &str, size: u64) -> String {
        let expires = Utc::now().timestamp().saturating_add(self.lifetime.as_secs() as i64);
        let granted =
            Granted { object_key: object_key.to_owned(), content_type: content_type.to_owned(), size, expires };
        let payload = B64.encode(serde_json::to_vec(&granted).expect("a grant serializes"));
        let signature = B64.encode(self.signer(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// What the grant allows, if this process issued it and it is current.
    pub fn verify(&self, grant: &str) -> Result<Granted, ApiError> {
        let (payload, signature) = grant.split_once('.').ok_or(INVALID)?;
        let signature = B64.decode(signature).map_err(|_| INVALID)?;
        self.signer(payload).verify_slice(&signature).map_err(|_| INVALID)?;
        let json = B64.decode(payload).map_err(|_| INVALID)?;
        let granted: Granted = serde_json::from_slice(&json).map_err(|_| INVALID)?;
        if expired(granted.expires, Utc::now().timestamp()) {
            return Err(EXPIRED);
        }
        Ok(granted)
    }

    /// Takes the grant for one upload: refused while another upload holds
    /// it, after one succeeded with it, or once it has expired (checked
    /// again here: [`Grants::verify`] was a moment ago).
    pub fn claim(&self, granted: &Granted) -> Result<Claim<'_>, ApiError> {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Utc::now().timestamp();
        // An expired grant is refused on its own: its entry can go.
        used.retain(|_, expires| !expired(*expires, now));
        if expired(granted.expires, now) {
            return Err(EXPIRED);
        }
        if used.insert(granted.object_key.clone(), granted.expires).is_some() {
            return Err(ApiError::Forbidden("this upload URL was used already"));
        }
        Ok(Claim { grants: self, object_key: Some(granted.object_key.clone()) })
    }

    fn signer(&self, payload: &str) -> Signer {
        let mut signer = Signer::new_from_slice(&self.key).expect("HMAC takes any key length");
        signer.update(payload.as_bytes());
        signer
    }
}

/// Whether a grant that expires at `expires` has at `now` (unix seconds).
fn expired(expires: i64, now: i64) -> bool {
    now >= expires
}

/// A grant taken by an upload in progress: given back when dropped, unless
/// the upload succeeded ([`Claim::keep`]).
pub struct Claim<'a> {
    grants: &'a Grants,
    object_key: Option<String>,
}

impl Claim<'_> {
    pub fn keep(mut self) {
        self.object_key = None;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.object_key.take() {
            self.grants.used.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_verifies_once_kept_and_not_when_altered_or_foreign() {
        let grants = Grants::new(Duration::from_secs(60));
        let text = grants.issue("images/u-cat.jpg", "image/jpeg", 1234);
        let granted = grants.verify(&text).unwrap();
        assert_eq!((granted.object_key.as_str(), granted.size), ("images/u-cat.jpg", 1234));

        // Given back on failure, refused once an upload kept it.
        drop(grants.claim(&granted).unwrap());
        let claim = grants.claim(&granted).unwrap();
        assert!(grants.claim(&granted).is_err(), "held by an upload in progress");
        claim.keep();
        assert!(grants.claim(&granted).is_err(), "used");

        let (payload, signature) = text.split_once('.').unwrap();
        let mut forged: Granted = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        forged.size = 10_000_000;
        let forged = format!("{}.{signature}", B64.encode(serde_json::to_vec(&forged).unwrap()));
        assert!(grants.verify(&forged).is_err(), "altered");
        assert!(Grants::new(Duration::from_secs(60)).verify(&text).is_err(), "another process's key");
        assert!(grants.verify("no-dot").is_err() && grants.verify("a.b").is_err());
        let short = Grants::new(Duration::ZERO);
        assert!(short.verify(&short.issue("k", "image/png", 1)).is_err(), "expired");
    }

    #[test]
    fn a_grant_that_expires_after_it_was_verified_cannot_be_claimed() {
        let grants = Grants::new(Duration::from_secs(60));
        let mut granted = grants.verify(&grants.issue("images/u-cat.jpg", "image/jpeg", 1234)).unwrap();
        granted.expires = Utc::now().timestamp();
        assert!(grants.claim(&granted).is_err());
    }
}
