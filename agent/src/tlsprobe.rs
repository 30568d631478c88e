//! The TLS probe: a handshake that always reads the server's certificate (to report its days to
//! expiry, even once expired or untrusted) and tells apart whether it verified.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one TLS probe saw.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The handshake completed and the certificate verified for the name.
    pub up: bool,
    /// The leaf certificate's notAfter, in Unix seconds, when a certificate arrived.
    pub not_after: Option<i64>,
}

/// Verifies as webpki does but accepts every certificate, recording the verdict and the leaf:
/// an expired or untrusted certificate must still be measured.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    verified: Mutex<Option<bool>>,
    leaf: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .is_ok();
        *self.verified.lock().expect("verdict lock") = Some(ok);
        *self.leaf.lock().expect("leaf lock") = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    // The handshake's own signatures are checked for real: they prove the server holds the key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The public webpki roots plus `extra` (the agent's `ca_file`), DER certificates that are not
/// usable trust anchors being skipped (the agent checked `ca_file` at start).
pub(crate) fn roots<'a>(extra: impl Iterator<Item = &'a [u8]>) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra {
        let _ = store.add(CertificateDer::from(der.to_vec()));
    }
    Arc::new(store)
}

/// Connects to `addr` and completes a handshake for `server_name` within `timeout` (blocking:
/// run it on the blocking pool). An error is why no certificate could be read at all.
pub(crate) fn check(
    addr: &str,
    server_name: &str,
    timeout: Duration,
    roots: Arc<RootCertStore>,
) -> Result<Outcome, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let verifier = Arc::new(Recording {
        inner,
        verified: Mutex::new(None),
        leaf: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("server name {server_name:?}: {e}"))?;
    let sock_addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut sock =
        std::net::TcpStream::connect_timeout(&sock_addr, timeout).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + timeout;
    let mut failed = None;
    while conn.is_handshaking() {
        if std::time::Instant::now() > deadline {
            failed = Some("handshake timed out".to_string());
            break;
        }
        if let Err(e) = conn.complete_io(&mut sock) {
            failed = Some(e.to_string());
            break;
        }
    }
    let leaf = verifier.leaf.lock().expect("leaf lock").take();
    let verified = verifier
        .verified
        .lock()
        .expect("verdict lock")
        .unwrap_or(false);
    match (leaf, failed) {
        (None, Some(e)) => Err(e),
        (leaf, failed) => Ok(Outcome {
            up: failed.is_none() && verified,
            not_after: leaf.as_deref().and_then(not_after),
        }),
    }
}

/// One DER element: its tag, its contents and what follows it.
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The notAfter of an X.509 certificate, in Unix seconds: Certificate → tbsCertificate →
/// (optional [0] version, serialNumber, signature, issuer) → validity → notAfter.
pub(crate) fn not_after(cert: &[u8]) -> Option<i64> {
    let (_, cert, _) = der(cert)?;
    let (_, tbs, _) = der(cert)?;
    let (tag, _, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        // An explicit version: the serial number follows.
        rest = der(rest)?.2;
    }
    let rest = der(rest)?.2; // signature algorithm
    let rest = der(rest)?.2; // issuer
    let (_, validity, _) = der(rest)?;
    let (_, _, after) = der(validity)?; // skip notBefore
    let (tag, time, _) = der(after)?;
    parse_time(tag, std::str::from_utf8(time).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as
/// RFC 5280 requires them (UTC, with seconds).
fn parse_time(tag: u8, s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match (tag, s.len()) {
        (0x17, 12) => {
            let yy: i64 = s[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        (0x18, 14) => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let n = |i: usize| rest.get(i..i + 2)?.parse::<i64>().ok();
    let (mo, d, h, mi, se) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    Some(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_to_unix_seconds() {
        assert_eq!(parse_time(0x17, "700101000000Z"), Some(0));
        assert_eq!(parse_time(0x17, "231114221320Z"), Some(1_700_000_000));
        assert_eq!(parse_time(0x18, "20231114221320Z"), Some(1_700_000_000));
        assert_eq!(parse_time(0x18, "20500101000000Z"), Some(2_524_608_000));
        assert_eq!(parse_time(0x17, "231114221320"), None);
        assert_eq!(parse_time(0x17, "2311142213Z"), None);
    }

    #[test]
    fn truncated_der_is_refused_not_a_panic() {
        assert_eq!(not_after(&[]), None);
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x30, 0x01]), None);
    }
}
