//! Passwords and challenges of the enrollment protocols, kept as argon2id hashes (PHC strings).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// An argon2id hash (PHC string) of a secret, with a fresh salt.
pub fn hash_secret(secret: &str) -> Result<String, anyhow::Error> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash a secret: {e}"))
}

/// Whether `secret` matches a hash made by [`hash_secret`].
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok())
}
