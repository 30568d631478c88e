//! Credentials: tenant tokens, their hashes, and the internal credential between nodes.
//!
//! Tokens are random, shown to their owner once, and stored only as SHA-256 hashes. Comparison
//! of secrets is constant-time.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random token with a readable prefix, e.g. `argus_agt_3f9c...` (256 bits of entropy).
pub fn generate_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, token) = h.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim())
    } else {
        None
    }
}

/// Redacts a secret for logs: keeps the prefix up to the last `_` and 4 characters.
pub fn redact(token: &str) -> String {
    let keep = token.rfind('_').map(|i| i + 1).unwrap_or(0);
    let shown: String = token[keep..].chars().take(4).collect();
    format!("{}{}…", &token[..keep], shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_hashes() {
        let t = generate_token("argus_agt");
        assert!(t.starts_with("argus_agt_") && t.len() == 10 + 64);
        assert_ne!(t, generate_token("argus_agt"));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
        assert_eq!(bearer(Some("Bearer xyz")), Some("xyz"));
        assert_eq!(bearer(Some("Basic xyz")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert!(!redact(&t).contains(&t[14..]));
    }
}
