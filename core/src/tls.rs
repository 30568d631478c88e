//! TLS between Argus nodes and across regions (rustls, ring provider).
//!
//! Every networked component has a `[tls]` section, a [`TlsConfig`], off by default:
//!
//! - `cert_file` + `key_file` (PEM): the component's HTTP listener serves **HTTPS only**;
//! - `ca_file` (PEM): extra roots trusted by the component's outgoing `https://` calls (to other
//!   nodes, the global zone, webhooks), in addition to the public webpki roots, so a private CA
//!   works without touching the system trust store.
//!
//! Files are read at start, and every failure there names the config key, the file and the
//! reason. The listener's certificate and key are re-read when they change (checked at most
//! every `RELOAD_CHECK` on new connections), so a renewed certificate is served without a
//! restart; a changed pair that cannot be used is logged and the previous one kept. `ca_file` is
//! read at start.
//! With the `http` feature: [`TlsConfig::server_config`] and [`crate::http::listen`] for the
//! server side, [`TlsConfig::client`] / [`client_builder`] for reqwest clients.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The `[tls]` section of a component's config. All keys empty: plain HTTP, public roots only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of this node (leaf first). With `key_file`, the listener serves
    /// HTTPS only; the names in it must match the host names other nodes use in their URLs.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM bundle of extra CA certificates trusted for outgoing `https://` calls (the private CA
    /// that signed the other nodes' certificates), on top of the public webpki roots.
    pub ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether the listener serves HTTPS (a certificate or a key is configured; [`Self::check`]
    /// refuses one without the other).
    pub fn serves_https(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// The scheme of this component's own URL: `https` when it serves TLS.
    pub fn scheme(&self) -> &'static str {
        if self.serves_https() {
            "https"
        } else {
            "http"
        }
    }
}

/// Why a `[tls]` section cannot be used. Each variant names the key and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of `cert_file` / `key_file` without the other.
    #[error("tls.{missing}: required when tls.{given} is set (a listener needs both)")]
    Incomplete {
        /// The key that is set.
        given: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// The file cannot be read.
    #[error("tls.{key}: cannot read {}: {source}", path.display())]
    Read {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not what the key expects.
    #[error("tls.{key}: {}: {reason}", path.display())]
    Invalid {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

#[cfg(feature = "http")]
mod loaded {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use std::path::Path;
    use std::sync::Arc;

    fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
        std::fs::read(path).map_err(|source| TlsError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })
    }

    fn invalid(key: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
        TlsError::Invalid {
            key,
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Reads every `CERTIFICATE` block of a PEM file; none is an error.
    fn certificates(
        key: &'static str,
        path: &Path,
    ) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let pem = read(key, path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(key, path, format!("unreadable PEM: {}", pem_reason(&e))))?;
        if certs.is_empty() {
            return Err(invalid(
                key,
                path,
                "no certificate in it (expected a PEM block BEGIN CERTIFICATE)",
            ));
        }
        Ok(certs)
    }

    /// The PEM error in words (the library prints the marker lines as byte arrays).
    fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
        use rustls::pki_types::pem::Error;
        match e {
            Error::MissingSectionEnd { end_marker } => format!(
                "a section has no end line (expected {:?})",
                String::from_utf8_lossy(end_marker)
            ),
            Error::IllegalSectionStart { line } => {
                format!("malformed BEGIN line {:?}", String::from_utf8_lossy(line))
            }
            other => other.to_string(),
        }
    }

    fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
        let pem = read("key_file", path)?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
            invalid(
                "key_file",
                path,
                format!(
                    "no usable private key (PKCS#8, PKCS#1 or SEC1 PEM block): {}",
                    pem_reason(&e)
                ),
            )
        })
    }

    /// How often, at most, a listener looks at its certificate files for a change.
    pub const RELOAD_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

    /// What tells a changed file: its modification time and length.
    type FileStamp = Option<(std::time::SystemTime, u64)>;

    fn stamp(path: &Path) -> FileStamp {
        let m = std::fs::metadata(path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// The certificate chain and key of `cert` + `key`, checked to fit each other.
    fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
        let chain = certificates("cert_file", cert)?;
        let key_der = private_key(key)?;
        CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| {
            invalid(
                "key_file",
                key,
                format!("does not fit the certificate of tls.cert_file: {e}"),
            )
        })
    }

    /// A listener's certificate, re-read from its files when they change, so that a renewed
    /// certificate is served from the next connection on without a restart.
    #[derive(Debug)]
    struct ReloadingCert {
        cert_file: PathBuf,
        key_file: PathBuf,
        state: std::sync::Mutex<CertState>,
    }

    #[derive(Debug)]
    struct CertState {
        current: Arc<CertifiedKey>,
        stamps: (FileStamp, FileStamp),
        checked: std::time::Instant,
    }

    impl ReloadingCert {
        fn load(cert: &Path, key: &Path) -> Result<ReloadingCert, TlsError> {
            let stamps = (stamp(cert), stamp(key));
            Ok(ReloadingCert {
                state: std::sync::Mutex::new(CertState {
                    current: Arc::new(certified_key(cert, key)?),
                    stamps,
                    checked: std::time::Instant::now(),
                }),
                cert_file: cert.to_path_buf(),
                key_file: key.to_path_buf(),
            })
        }

        /// Re-reads the files if they changed since the last look (at most every
        /// [`RELOAD_CHECK`]); a pair that cannot be used is logged and the current one kept.
        fn refresh(&self, st: &mut CertState) {
            if st.checked.elapsed() < RELOAD_CHECK {
                return;
            }
            st.checked = std::time::Instant::now();
            let stamps = (stamp(&self.cert_file), stamp(&self.key_file));
            if stamps == st.stamps {
                return;
            }
            // Remembered either way: a pair caught half written is tried again once the
            // second file changes too.
            st.stamps = stamps;
            match certified_key(&self.cert_file, &self.key_file) {
                Ok(k) => {
                    st.current = Arc::new(k);
                    tracing::info!(cert_file = %self.cert_file.display(),
                        "TLS certificate changed on disk: serving the new one");
                }
                Err(e) => tracing::warn!(error = %e,
                    "TLS certificate files changed but cannot be used; still serving the previous certificate"),
            }
        }
    }

    impl ResolvesServerCert for ReloadingCert {
        fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            let mut st = self.state.lock().ok()?;
            self.refresh(&mut st);
            Some(st.current.clone())
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    impl TlsConfig {
        /// Checks the section: both or neither of `cert_file` / `key_file`, and every named file
        /// loads. Components call it at start so that a bad file stops them with a clear error.
        pub fn check(&self) -> Result<(), TlsError> {
            self.server_config()?;
            self.client()?;
            Ok(())
        }

        /// The rustls server config of `cert_file` + `key_file`, or `None` when the listener
        /// serves plain HTTP.
        pub fn server_config(&self) -> Result<Option<rustls::ServerConfig>, TlsError> {
            let (cert, key) = match (&self.cert_file, &self.key_file) {
                (None, None) => return Ok(None),
                (Some(c), Some(k)) => (c, k),
                (Some(_), None) => {
                    return Err(TlsError::Incomplete {
                        given: "cert_file",
                        missing: "key_file",
                    })
                }
                (None, Some(_)) => {
                    return Err(TlsError::Incomplete {
                        given: "key_file",
                        missing: "cert_file",
                    })
                }
            };
            let resolver = ReloadingCert::load(cert, key)?;
            let config = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| invalid("cert_file", cert, e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(resolver));
            Ok(Some(config))
        }

        /// The client side: the extra roots of `ca_file`, checked (each certificate must be a
        /// usable trust anchor).
        pub fn client(&self) -> Result<ClientTls, TlsError> {
            let Some(path) = &self.ca_file else {
                return Ok(ClientTls::default());
            };
            let mut store = rustls::RootCertStore::empty();
            let mut roots = Vec::new();
            let mut ders = Vec::new();
            for der in certificates("ca_file", path)? {
                store.add(der.clone()).map_err(|e| {
                    invalid("ca_file", path, format!("not a usable CA certificate: {e}"))
                })?;
                let cert = reqwest::Certificate::from_der(&der)
                    .map_err(|e| invalid("ca_file", path, e.to_string()))?;
                roots.push(cert);
                ders.push(der.to_vec());
            }
            Ok(ClientTls {
                roots: roots.into(),
                ders: ders.into(),
            })
        }
    }

    /// The loaded client side of a [`TlsConfig`]: cheap to clone, handed to every place that
    /// builds an HTTP client so that `https://` URLs signed by the private CA are trusted.
    #[derive(Clone, Default)]
    pub struct ClientTls {
        roots: Arc<[reqwest::Certificate]>,
        /// The same roots in DER, for clients built by other libraries (the InfluxDB sink's).
        ders: Arc<[Vec<u8>]>,
    }

    impl std::fmt::Debug for ClientTls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ClientTls")
                .field("extra_roots", &self.roots.len())
                .finish()
        }
    }

    impl ClientTls {
        /// A reqwest builder trusting the public webpki roots plus the configured CA. Callers
        /// add their timeouts and build.
        pub fn builder(&self) -> reqwest::ClientBuilder {
            self.roots.iter().fold(reqwest::Client::builder(), |b, c| {
                b.add_root_certificate(c.clone())
            })
        }

        /// How many extra roots `ca_file` gave.
        pub fn extra_roots(&self) -> usize {
            self.roots.len()
        }

        /// The extra roots in DER, for an HTTP client this crate does not build.
        pub fn root_ders(&self) -> impl Iterator<Item = &[u8]> {
            self.ders.iter().map(Vec::as_slice)
        }
    }

    /// A reqwest builder for `cfg`'s client side: the public roots plus `ca_file`.
    pub fn client_builder(cfg: &TlsConfig) -> Result<reqwest::ClientBuilder, TlsError> {
        Ok(cfg.client()?.builder())
    }
}

#[cfg(feature = "http")]
pub use loaded::{client_builder, ClientTls, RELOAD_CHECK};

/// Throwaway certificates for tests (feature `test-certs`, dev-dependencies only): a private
/// CA and a server certificate for `localhost` and `127.0.0.1` signed by it.
#[cfg(feature = "test-certs")]
pub mod testing {
    use super::TlsConfig;
    use std::path::{Path, PathBuf};

    /// PEM files written by [`TestPki::write`].
    #[derive(Debug, Clone)]
    pub struct TestPki {
        /// The CA certificate (what clients trust).
        pub ca_file: PathBuf,
        /// The server certificate, signed by the CA.
        pub cert_file: PathBuf,
        /// The server's private key.
        pub key_file: PathBuf,
    }

    impl TestPki {
        /// Generates a CA and a server certificate for `localhost` / `127.0.0.1` into `dir`.
        pub fn write(dir: &Path) -> TestPki {
            use rcgen::{
                BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
            };
            let ca_key = KeyPair::generate().expect("CA key");
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca_params
                .distinguished_name
                .push(DnType::CommonName, "Argus test CA");
            ca_params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
            let key = KeyPair::generate().expect("server key");
            let mut params =
                CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                    .expect("server params");
            params
                .distinguished_name
                .push(DnType::CommonName, "argus test node");
            let cert = params
                .signed_by(&key, &ca, &ca_key)
                .expect("server certificate");
            let pki = TestPki {
                ca_file: dir.join("ca.pem"),
                cert_file: dir.join("node.pem"),
                key_file: dir.join("node.key"),
            };
            std::fs::write(&pki.ca_file, ca.pem()).expect("write ca.pem");
            std::fs::write(&pki.cert_file, cert.pem()).expect("write node.pem");
            std::fs::write(&pki.key_file, key.serialize_pem()).expect("write node.key");
            pki
        }

        /// A `[tls]` section serving HTTPS with the server certificate and trusting the CA.
        pub fn config(&self) -> TlsConfig {
            TlsConfig {
                cert_file: Some(self.cert_file.clone()),
                key_file: Some(self.key_file.clone()),
                ca_file: Some(self.ca_file.clone()),
            }
        }

        /// A `[tls]` section that only trusts the CA (a client, like the agent).
        pub fn client_config(&self) -> TlsConfig {
            TlsConfig {
                ca_file: Some(self.ca_file.clone()),
                ..TlsConfig::default()
            }
        }
    }
}
