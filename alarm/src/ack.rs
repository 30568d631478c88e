//! Acknowledgement links: a message carries `GET {public_url}/ack?token=...`, where the token is
//! an HMAC over tenant, event id and expiry, so the link needs no other credential.

use argus_core::event::EventId;
use argus_core::TenantId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a link works, in seconds.
pub const LINK_TTL_SECS: i64 = 7 * 86_400;

fn sign(secret: &[u8], tenant: &str, id: &str, exp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{tenant}\n{id}\n{exp}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The token of an acknowledgement link.
pub fn token(secret: &[u8], tenant: &TenantId, id: &EventId, now: i64) -> String {
    let exp = now + LINK_TTL_SECS;
    format!(
        "{tenant}.{id}.{exp}.{}",
        sign(secret, tenant.as_str(), &id.0, exp)
    )
}

/// The link itself.
pub fn url(public_url: &str, secret: &[u8], tenant: &TenantId, id: &EventId, now: i64) -> String {
    format!(
        "{}/ack?token={}",
        public_url.trim_end_matches('/'),
        token(secret, tenant, id, now)
    )
}

/// Checks a token; gives the tenant and event id it acknowledges.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<(TenantId, EventId), &'static str> {
    let parts: Vec<&str> = token.split('.').collect();
    let [tenant, id, exp, sig] = parts[..] else {
        return Err("malformed token");
    };
    let exp: i64 = exp.parse().map_err(|_| "malformed token")?;
    let want = sign(secret, tenant, id, exp);
    if !argus_core::auth::constant_time_eq(want.as_bytes(), sig.as_bytes()) {
        return Err("invalid token");
    }
    if now > exp {
        return Err("expired link");
    }
    Ok((
        TenantId::new(tenant).map_err(|_| "malformed token")?,
        EventId(id.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_forgeries() {
        let t = TenantId::new("acme").unwrap();
        let id = EventId("acme-00ff".into());
        let tok = token(b"k", &t, &id, 100);
        assert_eq!(verify(b"k", &tok, 200).unwrap(), (t.clone(), id.clone()));
        assert_eq!(verify(b"other", &tok, 200), Err("invalid token"));
        assert_eq!(
            verify(b"k", &tok.replace("acme.", "evil."), 200),
            Err("invalid token")
        );
        assert_eq!(
            verify(b"k", &tok, 100 + LINK_TTL_SECS + 1),
            Err("expired link")
        );
    }
}
