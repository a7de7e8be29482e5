//! Passwords and challenges of the enrollment protocols: argon2id hashes (PHC strings) of them,
//! checks against those hashes, and the memory of recent successful checks. Pure: no database,
//! no request state, so the application state can hold the memory without a loop of modules.

pub use certctl_usecases::secrets::{hash_secret, verify_secret};
use std::time::Instant;

/// Passwords and challenges that verified recently, so a fleet enrolling through one credential
/// does not pay an argon2id check (tens of milliseconds of CPU, deliberately) on every request.
/// Only successes are kept, for `VERIFIED_FOR`, as an HMAC under a key drawn at start (never the
/// secret itself); a changed hash (a new profile) is a different entry, and a disabled profile is
/// refused before any secret is checked.
pub struct VerifiedSecrets {
    key: ring::hmac::Key,
    seen: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Instant>>,
}

/// How long a verified secret is taken as verified.
const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(300);
/// Entries kept at most; past this, nothing new is kept until old ones expire.
const MAX_VERIFIED: usize = 10_000;

impl VerifiedSecrets {
    pub fn new() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &uuid::Uuid::new_v4().into_bytes()));
        Self {
            key,
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn tag(&self, secret: &str, hash: &str) -> Vec<u8> {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        ctx.update(hash.as_bytes());
        ctx.update(&[0]);
        ctx.update(secret.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    /// Whether `secret` matches the argon2id `hash`, from memory when it matched recently.
    pub async fn verify(&self, secret: &str, hash: &str) -> bool {
        let tag = self.tag(secret, hash);
        let now = Instant::now();
        {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.get(&tag).is_some_and(|at| now.duration_since(*at) < VERIFIED_FOR) {
                return true;
            }
        }
        let (secret, hash) = (secret.to_owned(), hash.to_owned());
        let ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
            .await
            .unwrap_or(false);
        if ok {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() >= MAX_VERIFIED {
                seen.retain(|_, at| now.duration_since(*at) < VERIFIED_FOR);
            }
            if seen.len() < MAX_VERIFIED {
                seen.insert(tag, now);
            }
        }
        ok
    }
}

impl Default for VerifiedSecrets {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_kept_as_argon2id_hashes_that_verify_only_the_secret() {
        let hash = hash_secret("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_secret("correct horse battery", &hash));
        assert!(!verify_secret("correct horse batterz", &hash));
        assert!(!verify_secret("correct horse battery", "not a hash"));
        assert_ne!(
            hash,
            hash_secret("correct horse battery").unwrap(),
            "a fresh salt each time"
        );
    }

    #[tokio::test]
    async fn only_the_right_secret_verifies_and_a_success_is_remembered() {
        let hash = hash_secret("a long shared password").unwrap();
        let cache = VerifiedSecrets::new();
        assert!(!cache.verify("wrong", &hash).await);
        assert!(cache.verify("a long shared password", &hash).await);
        assert_eq!(cache.seen.lock().unwrap().len(), 1, "only the success is kept");
        assert!(cache.verify("a long shared password", &hash).await);
        assert!(!cache.verify("a long shared passwore", &hash).await);
        let other = hash_secret("another password here").unwrap();
        assert!(
            !cache.verify("a long shared password", &other).await,
            "entries are per hash"
        );
    }
}
