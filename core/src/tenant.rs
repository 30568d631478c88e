//! Tenants: the unit of isolation. Every point, series, strategy and event belongs to exactly one.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// The identifier of a tenant: a short slug such as `acme` or `team-db`.
///
/// Lowercase ASCII letters, digits, `-` and `_`, 1 to 64 characters. The tenant of a point always
/// comes from the credential it arrived with, never from the payload.
///
/// Shared, not copied: every point of a push carries its tenant, so cloning one is a reference
/// count increment rather than a string allocation (the ingest path clones it per point).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TenantId(Option<Arc<str>>);

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
        Ok(TenantId(Some(Arc::from(s))))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// True for the empty id that points carry before a transfer assigns their tenant.
    pub fn is_unset(&self) -> bool {
        self.0.is_none()
    }

    /// A tenant id taken as it is (no checks), like deserialization; the empty string is unset.
    fn unchecked(s: &str) -> Self {
        if s.is_empty() {
            TenantId(None)
        } else {
            TenantId(Some(Arc::from(s)))
        }
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TenantId").field(&self.as_str()).finish()
    }
}

/// As a plain string, as before the id was shared.
impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TenantId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tenant id string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TenantId, E> {
                Ok(TenantId::unchecked(v))
            }
        }
        d.deserialize_str(V)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

    #[test]
    fn shared_id_reads_and_writes_as_a_string() {
        let t = TenantId::new("acme").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"acme\"");
        let back: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(back, t);
        let unset: TenantId = serde_json::from_str("\"\"").unwrap();
        assert!(unset.is_unset() && unset == TenantId::default());
        assert_eq!(format!("{t:?} {t}"), "TenantId(\"acme\") acme");
        assert!(TenantId::default() < t);
    }
}
