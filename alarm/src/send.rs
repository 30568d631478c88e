//! Sending one delivery: signed webhooks (with SSRF protection) and email over SMTP.

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::render::Email;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;

/// How one try ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The receiver took it.
    Delivered {
        /// HTTP status, for webhooks.
        status: Option<u16>,
    },
    /// A transient failure: try again later.
    Retry {
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// Why.
        error: String,
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A failure that another try cannot fix (refused destination, bad address, 4xx).
    Permanent {
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// Why.
        error: String,
    },
}

/// True for addresses a webhook must not reach unless the operator allows it: loopback,
/// private, link-local, carrier-grade NAT, unique-local, unspecified, broadcast, multicast.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v) => {
            if let Some(v4) = v.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v.segments();
            v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Checks a webhook URL: http(s) only, and every address it resolves to public unless allowed.
pub async fn check_destination(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    // The URL itself stays out of errors: a chat service's carries its key.
    let u = reqwest::Url::parse(url).map_err(|e| format!("invalid webhook URL: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "webhook URL scheme must be http or https, got {:?}",
            u.scheme()
        ));
    }
    if allow_private {
        return Ok(u);
    }
    let host = u
        .host_str()
        .ok_or_else(|| "webhook URL has no host".to_string())?;
    let port = u.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve webhook host {host}: {e}"))?
        .collect();
    if let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "webhook destination {host} resolves to {} (private or loopback), refused: set allow_private_webhooks = true to allow",
            a.ip()
        ));
    }
    Ok(u)
}

/// The webhook client's resolver when private destinations are not allowed: the addresses the
/// connection is made to are the ones checked here, so a name that resolved to a public address
/// for [`check_destination`] and to a private one a moment later (DNS rebinding) is refused at
/// connect time.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            // The port is set by the client afterwards.
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
                let e = format!(
                    "webhook destination {host} resolves to {} (private or loopback) at connect time, refused",
                    a.ip()
                );
                return Err(e.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// `sha256=<hex>`: HMAC-SHA256 with `secret` over `timestamp + "." + body`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a webhook body with its signature and idempotency key.
pub async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    allow_private: bool,
    secret: Option<&str>,
    key: &str,
    body: Vec<u8>,
    now: i64,
) -> Outcome {
    let mut headers = vec![
        ("idempotency-key", key.to_string()),
        ("x-argus-idempotency-key", key.to_string()),
        ("x-argus-timestamp", now.to_string()),
    ];
    if let Some(s) = secret.filter(|s| !s.is_empty()) {
        headers.push(("x-argus-signature", signature(s.as_bytes(), now, &body)));
    }
    match post_json(client, url, allow_private, &headers, body).await {
        Ok(reply) => reply.outcome(),
        Err(o) => o,
    }
}

/// What a receiver answered: enough to tell success, a retry and its wait, or a refusal.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// The start of the body (services answer small JSON; a long body is cut).
    pub body: Vec<u8>,
}

/// How much of a reply body is kept: enough for any service's error object.
const REPLY_BODY_MAX: usize = 16 * 1024;

impl Reply {
    /// The outcome by status alone: 2xx delivered; what the one retry rule calls transient
    /// (5xx, 408, 425, 429; `argus_core::http::Failure`) retried after the receiver's
    /// `Retry-After`; any other status is permanent: a wrong URL or credential (401/403/404)
    /// dead-letters at once, from where the console sends it again once it is fixed.
    pub(crate) fn outcome(&self) -> Outcome {
        let code = Some(self.status);
        if (200..300).contains(&self.status) {
            return Outcome::Delivered { status: code };
        }
        let mut error = format!("HTTP {}", self.status);
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if !text.is_empty() {
            // The service's reason, briefly (it never echoes the credential back).
            let cut: String = text.chars().take(200).collect();
            error.push_str(": ");
            error.push_str(&cut);
        }
        if argus_core::http::retryable(self.status) {
            Outcome::Retry {
                status: code,
                error,
                retry_after: self.retry_after,
            }
        } else {
            Outcome::Permanent {
                status: code,
                error,
            }
        }
    }
}

/// POSTs a JSON body to a destination checked by [`check_destination`], with extra headers.
/// The one HTTP path of every channel: the pooled client, its timeouts and resolver. A failed
/// connection or a refused destination comes back as the outcome to record.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    allow_private: bool,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Reply, Outcome> {
    let u = check_destination(url, allow_private)
        .await
        .map_err(|error| Outcome::Permanent {
            status: None,
            error,
        })?;
    let mut req = client.post(u).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let mut resp = req.body(body).send().await.map_err(|e| Outcome::Retry {
        status: None,
        // The URL is left out: for chat services it carries their key.
        error: format!("request failed: {}", error_chain(&e.without_url())),
        retry_after: None,
    })?;
    let status = resp.status().as_u16();
    let retry_after = crate::retry::parse_retry_after(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
    );
    let mut out = Vec::new();
    // A body that fails halfway still leaves the status to judge by.
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = REPLY_BODY_MAX - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= REPLY_BODY_MAX {
            break;
        }
    }
    Ok(Reply {
        status,
        retry_after,
        body: out,
    })
}

/// An error with its causes (`a: b: c`), so that the delivery log says why a request failed
/// (a refused certificate, a reset connection), not only that it did.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// The SMTP side: a transport to the relay and the From address.
pub struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    /// Builds the transport; `None` when no relay is configured.
    pub fn new(c: &SmtpConfig) -> Result<Option<Mailer>, crate::AlarmError> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::{AsyncSmtpTransport, Tokio1Executor};
        if c.host.is_empty() {
            return Ok(None);
        }
        let bad = |key: &str, e: String| crate::AlarmError::Config {
            key: key.into(),
            reason: e,
        };
        let builder = match (c.security, c.ca_file.is_empty()) {
            (SmtpSecurity::None, _) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
            }
            (SmtpSecurity::Starttls, true) => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host)
                    .map_err(|e| bad("smtp.host", e.to_string()))?
            }
            (SmtpSecurity::Tls, true) => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host)
                .map_err(|e| bad("smtp.host", e.to_string()))?,
            (security, false) => {
                use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
                let pem = std::fs::read(&c.ca_file)
                    .map_err(|e| bad("smtp.ca_file", format!("cannot read {}: {e}", c.ca_file)))?;
                let cert =
                    Certificate::from_pem(&pem).map_err(|e| bad("smtp.ca_file", e.to_string()))?;
                let params = TlsParameters::builder(c.host.clone())
                    .add_root_certificate(cert)
                    .build()
                    .map_err(|e| bad("smtp.ca_file", e.to_string()))?;
                let tls = if security == SmtpSecurity::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host).tls(tls)
            }
        };
        let mut builder = builder
            .port(c.port)
            .timeout(Some(Duration::from_millis(c.timeout_ms)));
        if !c.username.is_empty() {
            builder = builder.credentials(Credentials::new(c.username.clone(), c.password.clone()));
        }
        let from = c
            .from
            .parse()
            .map_err(|e| bad("smtp.from", format!("{e}")))?;
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends one email; the idempotency key becomes its Message-ID.
    pub async fn send(&self, to: &str, key: &str, mail: Email) -> Outcome {
        use lettre::message::MultiPart;
        use lettre::AsyncTransport;
        let to: lettre::message::Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => {
                return Outcome::Permanent {
                    status: None,
                    error: format!("invalid email address {to:?}: {e}"),
                }
            }
        };
        let msg = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{key}@argus.alarm>")))
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html));
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                return Outcome::Permanent {
                    status: None,
                    error: format!("cannot build email: {e}"),
                }
            }
        };
        match self.transport.send(msg).await {
            Ok(_) => Outcome::Delivered { status: None },
            Err(e) if e.is_permanent() => Outcome::Permanent {
                status: None,
                error: format!("SMTP refused: {e}"),
            },
            Err(e) => Outcome::Retry {
                status: None,
                error: format!("SMTP failed: {e}"),
                retry_after: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn refuses_loopback_unless_allowed() {
        let e = check_destination("http://127.0.0.1:9/x", false)
            .await
            .unwrap_err();
        assert!(e.contains("allow_private_webhooks"), "{e}");
        assert!(check_destination("http://127.0.0.1:9/x", true)
            .await
            .is_ok());
        assert!(check_destination("ftp://example.com/", true).await.is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_turned_private_at_connect_time() {
        // `localhost` stands for a name that passed the check and then resolved to loopback.
        let rx = argus_core::testing::WebhookReceiver::start().await;
        let url = rx.url.replace("127.0.0.1", "localhost");
        let guarded = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(PublicOnlyResolver))
            .build()
            .unwrap();
        let e = guarded.post(&url).body("{}").send().await.unwrap_err();
        let chain = error_chain(&e);
        assert!(chain.contains("private or loopback"), "{chain}");
        assert!(rx.hits().is_empty(), "nothing reached the private address");
        // The same request without the guard does arrive: the refusal above is the resolver's.
        let plain = reqwest::Client::new();
        assert!(plain
            .post(&url)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            .is_success());
        assert_eq!(rx.hits().len(), 1);
        rx.stop().await;
    }

    #[test]
    fn signature_is_hmac_over_timestamp_and_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac s
        let s = signature(b"s", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "sha256=e9232c9945da8456c2dea6b39da7786c07b00bca7a64d5dd1283674713a7b72a"
        );
        assert_ne!(s, signature(b"s", 1_700_000_001, b"{}"));
    }
}
