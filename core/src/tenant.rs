//! Tenants: the unit of isolation. Every point, series, strategy and event belongs to exactly one.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The identifier of a tenant: a short slug such as `acme` or `team-db`.
///
/// Lowercase ASCII letters, digits, `-` and `_`, 1 to 64 characters. The tenant of a point always
/// comes from the credential it arrived with, never from the payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// Checks `s` and makes a tenant id of it.
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.is_empty() || s.len() > 64 {
            return Err(format!(
                "tenant id must be 1 to 64 characters, got {}",
                s.len()
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "tenant id may hold only a-z, 0-9, '-' and '_', found {c:?}"
            ));
        }
        Ok(TenantId(s))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the empty id that points carry before a transfer assigns their tenant.
    pub fn is_unset(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs_and_refuses_others() {
        assert!(TenantId::new("acme-1_x").is_ok());
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("Acme").unwrap_err().contains("'A'"));
        assert!(TenantId::new("a/b").is_err());
        assert!(TenantId::new("x".repeat(65)).is_err());
    }
}
