//! The chat and paging services (Slack, Microsoft Teams, DingTalk, WeCom, Feishu/Lark, Telegram,
//! PagerDuty Events v2): a notice becomes the service's documented payload, posted through the
//! one HTTP path of every channel (`send::post_json`) and judged by the service's own reply.
//! Retries and dead letters are the delivery loop's, as for webhooks. docs/CHANNELS.md.

use crate::render::{Notice, Renderer};
use crate::send::{Outcome, Reply};
use argus_core::event::EventStatus;
use argus_core::notify::{Channel, ChatReceiver, TeamsFormat, PAGERDUTY_EVENTS, TELEGRAM_API};
use argus_core::time::rfc3339;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// One POST to make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub url: String,
    pub body: Value,
}

/// The links and names a message shows.
pub(crate) struct Context<'a> {
    pub contact: &'a str,
    pub ack_urls: &'a [Option<String>],
    /// The console's base URL, empty when unknown.
    pub console: &'a str,
}

/// Sends `n` to `r`: renders, builds the service's requests and posts them in turn. The first
/// request that does not go through decides the outcome (a retry sends them all again: only
/// PagerDuty takes several, and it merges repeats by their `dedup_key`).
pub(crate) async fn send(
    client: &reqwest::Client,
    allow_private: bool,
    renderer: &Renderer,
    r: &ChatReceiver,
    n: &Notice,
    cx: &Context<'_>,
    now_ms: i64,
) -> Outcome {
    let requests = match requests(renderer, r, n, cx, now_ms) {
        Ok(q) => q,
        Err(error) => {
            return Outcome::Permanent {
                status: None,
                error,
            }
        }
    };
    let mut last = Outcome::Delivered { status: None };
    for q in requests {
        let body = serde_json::to_vec(&q.body).unwrap_or_default();
        let reply = match crate::send::post_json(client, &q.url, allow_private, &[], body).await {
            Ok(reply) => reply,
            Err(o) => return o,
        };
        last = judge(r.kind, &reply);
        if !matches!(last, Outcome::Delivered { .. }) {
            return last;
        }
    }
    last
}

/// The requests that deliver `n` to `r`.
pub(crate) fn requests(
    renderer: &Renderer,
    r: &ChatReceiver,
    n: &Notice,
    cx: &Context<'_>,
    now_ms: i64,
) -> Result<Vec<Request>, String> {
    let template = r.template.as_deref().filter(|t| !t.trim().is_empty());
    if r.kind == Channel::Pagerduty {
        return pagerduty(renderer, r, n, cx, template);
    }
    let ctx = n.context(cx.contact, cx.ack_urls, cx.console);
    let text = renderer.chat(template, &ctx)?;
    let text = text.trim_end();
    let (title, rest) = text.split_once('\n').unwrap_or((text, ""));
    let url = r.url.clone().unwrap_or_default();
    let color = match n.status() {
        "PROBLEM" => "D63333",
        "OK" => "2EB886",
        _ => "F2A33A",
    };
    let one = |url: String, body: Value| Ok(vec![Request { url, body }]);
    match r.kind {
        // https://api.slack.com/messaging/webhooks: `text` (mrkdwn, with &, < and > escaped).
        Channel::Slack => one(
            url,
            json!({
                "text": slack_escape(&cut_chars(text, 39_000)),
                "attachments": [{"color": format!("#{color}"), "fallback": slack_escape(title)}],
            }),
        ),
        Channel::Teams => {
            let link = n
                .events
                .first()
                .map(|e| crate::render::event_link(cx.console, e))
                .unwrap_or_default();
            let body = match r.format.unwrap_or_default() {
                // Office 365 connector card.
                TeamsFormat::MessageCard => {
                    let mut card = json!({
                        "@type": "MessageCard",
                        "@context": "https://schema.org/extensions",
                        "themeColor": color,
                        "summary": cut_chars(title, 200),
                        "title": title,
                        // Teams renders the text as Markdown: keep the lines apart.
                        "text": cut_chars(&rest.replace('\n', "\n\n"), 20_000),
                    });
                    if !link.is_empty() {
                        card["potentialAction"] = json!([{
                            "@type": "OpenUri", "name": "Open in Argus",
                            "targets": [{"os": "default", "uri": link}],
                        }]);
                    }
                    card
                }
                // Teams Workflows ("Post to a channel when a webhook request is received").
                TeamsFormat::AdaptiveCard => {
                    let mut card = json!({
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true,
                             "color": if n.status() == "OK" { "Good" } else { "Attention" }},
                            {"type": "TextBlock", "text": cut_chars(&rest.replace('\n', "\n\n"), 20_000), "wrap": true},
                        ],
                    });
                    if !link.is_empty() {
                        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open in Argus", "url": link}]);
                    }
                    json!({
                        "type": "message",
                        "attachments": [{
                            "contentType": "application/vnd.microsoft.card.adaptive",
                            "contentUrl": null,
                            "content": card,
                        }],
                    })
                }
            };
            one(url, body)
        }
        // https://open.dingtalk.com/document/robots/custom-robot-access: a text message; with
        // signing on, `timestamp` (ms) and `sign` = Base64(HMAC-SHA256(secret,
        // timestamp + "\n" + secret)) join the URL's query.
        Channel::Dingtalk => {
            let mut u = reqwest::Url::parse(&url).map_err(|e| format!("invalid url: {e}"))?;
            if let Some(secret) = r.secret.as_deref().filter(|s| !s.is_empty()) {
                let ts = now_ms.to_string();
                let sign = hmac_b64(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes());
                u.query_pairs_mut()
                    .append_pair("timestamp", &ts)
                    .append_pair("sign", &sign);
            }
            one(
                u.to_string(),
                json!({"msgtype": "text", "text": {"content": cut_bytes(text, 18_000)}}),
            )
        }
        // https://developer.work.weixin.qq.com/document/path/91770: text content up to 2048 bytes.
        Channel::Wecom => one(
            url,
            json!({"msgtype": "text", "text": {"content": cut_bytes(text, 2_048)}}),
        ),
        // https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot: with signing on,
        // `timestamp` (s) and `sign` = Base64(HMAC-SHA256 keyed by timestamp + "\n" + secret,
        // over nothing) in the body.
        Channel::Feishu => {
            let mut body =
                json!({"msg_type": "text", "content": {"text": cut_bytes(text, 18_000)}});
            if let Some(secret) = r.secret.as_deref().filter(|s| !s.is_empty()) {
                let ts = (now_ms / 1000).to_string();
                body["timestamp"] = json!(ts);
                body["sign"] = json!(hmac_b64(format!("{ts}\n{secret}").as_bytes(), b""));
            }
            one(url, body)
        }
        // https://core.telegram.org/bots/api#sendmessage: plain text up to 4096 characters.
        Channel::Telegram => {
            let base = r
                .url
                .as_deref()
                .unwrap_or(TELEGRAM_API)
                .trim_end_matches('/');
            let token = r.bot_token.as_deref().unwrap_or_default();
            let chat = r.chat_id.as_deref().unwrap_or_default().trim();
            let chat_id = match chat.parse::<i64>() {
                Ok(id) => json!(id),
                Err(_) => json!(chat),
            };
            one(
                format!("{base}/bot{token}/sendMessage"),
                json!({"chat_id": chat_id, "text": cut_chars(text, 4_096), "disable_web_page_preview": true}),
            )
        }
        other => Err(format!("{} is not a chat service", other.as_str())),
    }
}

/// PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events):
/// one event per Argus event, `trigger` for a problem and `resolve` for its recovery under the
/// same `dedup_key` (tenant and event id), so PagerDuty opens and closes one alert per problem.
fn pagerduty(
    renderer: &Renderer,
    r: &ChatReceiver,
    n: &Notice,
    cx: &Context<'_>,
    template: Option<&str>,
) -> Result<Vec<Request>, String> {
    let url = r.url.as_deref().unwrap_or(PAGERDUTY_EVENTS).to_string();
    let key = r.routing_key.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for (i, e) in n.events.iter().enumerate() {
        let dedup_key = format!("argus/{}/{}", e.tenant, e.id);
        let body = if e.status == EventStatus::Problem {
            let alone = Notice {
                events: vec![e.clone()],
                ..n.clone()
            };
            let ack = [cx.ack_urls.get(i).cloned().flatten()];
            let ctx = alone.context(cx.contact, &ack, cx.console);
            let summary = renderer.pagerduty_summary(template, &ctx)?;
            let summary = summary.lines().next().unwrap_or("").trim();
            let severity = match e.priority.level() {
                0 | 1 => "critical",
                2 => "error",
                3 => "warning",
                _ => "info",
            };
            let mut details = json!({
                "priority": format!("P{}", e.priority.level()), "metric": e.series.metric,
                "tags": e.series.tags.to_string(), "condition": e.condition, "value": e.value,
                "note": e.note, "region": e.region, "event_id": e.id,
            });
            if let Some(rule) = &e.rule {
                details["labels"] = json!(rule.labels);
                details["annotations"] = json!(rule.annotations);
            }
            let source = if e.series.endpoint.is_empty() {
                "argus"
            } else {
                e.series.endpoint.as_str()
            };
            let mut body = json!({
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": cut_chars(if summary.is_empty() { &e.series.metric } else { summary }, 1_024),
                    "source": source,
                    "severity": severity,
                    "timestamp": rfc3339(e.timestamp),
                    "component": e.series.metric,
                    "group": e.region,
                    "class": e.rule.as_ref().map(|r| r.alert.clone()).unwrap_or_else(|| e.series.metric.clone()),
                    "custom_details": details,
                },
                "client": "Argus",
            });
            let link = crate::render::event_link(cx.console, e);
            if !link.is_empty() {
                body["client_url"] = json!(link);
                body["links"] = json!([{"href": link, "text": "Event in Argus"}]);
            }
            body
        } else {
            json!({"routing_key": key, "event_action": "resolve", "dedup_key": dedup_key})
        };
        out.push(Request {
            url: url.clone(),
            body,
        });
    }
    Ok(out)
}

/// How a service's reply ends the try. Past the status, DingTalk and WeCom answer
/// `{"errcode": N}` and Feishu `{"code": N}` (0 is success; their rate limits are retried),
/// and Telegram `{"ok": …}` with a `retry_after` of its own.
pub(crate) fn judge(kind: Channel, reply: &Reply) -> Outcome {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let code = Some(reply.status);
    let by_code = |field: &str, retry: &[i64]| -> Option<Outcome> {
        let n = body
            .get(field)
            .or_else(|| body.get("StatusCode"))
            .and_then(Value::as_i64)?;
        if n == 0 {
            return None;
        }
        let msg = ["errmsg", "msg", "StatusMessage"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
            .unwrap_or("");
        let error = format!("{} {field} {n}: {msg}", kind.as_str());
        // A 2xx carrying an error code is judged by the code alone.
        let status_retry = reply.status >= 300 && argus_core::http::retryable(reply.status);
        Some(if retry.contains(&n) || status_retry {
            Outcome::Retry {
                status: code,
                error,
                retry_after: reply.retry_after,
            }
        } else {
            Outcome::Permanent {
                status: code,
                error,
            }
        })
    };
    let refused = match kind {
        // 130101: "send too fast".
        Channel::Dingtalk => by_code("errcode", &[130101]),
        // 45009: "api freq out of limit".
        Channel::Wecom => by_code("errcode", &[45009]),
        // 11232 and 230020: tenant and chat send-rate limits.
        Channel::Feishu => by_code("code", &[11232, 230020]),
        Channel::Telegram if reply.status == 429 => {
            let wait = body
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .map(std::time::Duration::from_secs);
            Some(Outcome::Retry {
                status: code,
                error: "telegram: too many requests".into(),
                retry_after: wait.or(reply.retry_after),
            })
        }
        Channel::Telegram if (200..300).contains(&reply.status) && body["ok"] != json!(true) => {
            Some(Outcome::Permanent {
                status: code,
                error: format!("telegram answered {}", String::from_utf8_lossy(&reply.body)),
            })
        }
        // A legacy connector reports the service's own throttling inside a 200.
        Channel::Teams
            if String::from_utf8_lossy(&reply.body).contains("returned HTTP error 429") =>
        {
            Some(Outcome::Retry {
                status: code,
                error: "teams: throttled (HTTP error 429 inside the answer)".into(),
                retry_after: reply.retry_after,
            })
        }
        _ => None,
    };
    refused.unwrap_or_else(|| reply.outcome())
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Slack's three control characters in text.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, an ellipsis marking a cut.
fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.chars().count() > max => format!("{}…", &s[..i]),
        _ => s.to_string(),
    }
}

/// At most `max` bytes of UTF-8, cut on a character boundary, an ellipsis marking a cut.
fn cut_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_characters_whole() {
        assert_eq!(cut_chars("abcdef", 4), "abc…");
        assert_eq!(cut_chars("abc", 4), "abc");
        let s = "警告警告";
        let c = cut_bytes(s, 8);
        assert!(c.len() <= 8 && c.ends_with('…'), "{c}");
        assert_eq!(cut_bytes(s, 12), s);
    }

    #[test]
    fn dingtalk_and_feishu_signatures() {
        // Computed independently:
        // printf '1700000000000\nSEC1' | openssl dgst -sha256 -hmac SEC1 -binary | base64
        assert_eq!(
            hmac_b64(b"SEC1", b"1700000000000\nSEC1"),
            "ukR4+WoOOBTGaOauYqugxVrMSFyr92q4hPxJxuOkiio="
        );
        // Feishu keys the HMAC with timestamp + "\n" + secret and signs nothing:
        // printf '' | openssl dgst -sha256 -hmac "$(printf '1700000000\nSEC1')" -binary | base64
        assert_eq!(
            hmac_b64(b"1700000000\nSEC1", b""),
            "s3Va4ru9IQUY6HTJcYx7OEVyXl0V0S/y32v4ZbfOHCI="
        );
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn service_replies() {
        let ok = |o: Outcome| matches!(o, Outcome::Delivered { .. });
        let retry = |o: Outcome| matches!(o, Outcome::Retry { .. });
        let dead = |o: Outcome| matches!(o, Outcome::Permanent { .. });
        assert!(ok(judge(
            Channel::Dingtalk,
            &reply(200, r#"{"errcode":0,"errmsg":"ok"}"#)
        )));
        assert!(dead(judge(
            Channel::Dingtalk,
            &reply(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#)
        )));
        assert!(retry(judge(
            Channel::Dingtalk,
            &reply(200, r#"{"errcode":130101}"#)
        )));
        assert!(retry(judge(
            Channel::Wecom,
            &reply(200, r#"{"errcode":45009}"#)
        )));
        assert!(ok(judge(
            Channel::Feishu,
            &reply(200, r#"{"code":0,"msg":"success"}"#)
        )));
        assert!(ok(judge(
            Channel::Feishu,
            &reply(200, r#"{"StatusCode":0}"#)
        )));
        assert!(retry(judge(
            Channel::Feishu,
            &reply(400, r#"{"code":11232}"#)
        )));
        assert!(dead(judge(
            Channel::Feishu,
            &reply(200, r#"{"code":19021,"msg":"sign match fail"}"#)
        )));
        let t = judge(
            Channel::Telegram,
            &reply(429, r#"{"ok":false,"parameters":{"retry_after":7}}"#),
        );
        assert_eq!(
            t,
            Outcome::Retry {
                status: Some(429),
                error: "telegram: too many requests".into(),
                retry_after: Some(std::time::Duration::from_secs(7)),
            }
        );
        assert!(dead(judge(
            Channel::Telegram,
            &reply(400, r#"{"ok":false}"#)
        )));
        assert!(ok(judge(Channel::Telegram, &reply(200, r#"{"ok":true}"#))));
        assert!(ok(judge(Channel::Slack, &reply(200, "ok"))));
        assert!(dead(judge(
            Channel::Slack,
            &reply(404, "channel_not_found")
        )));
        assert!(retry(judge(Channel::Slack, &reply(503, ""))));
        assert!(ok(judge(
            Channel::Pagerduty,
            &reply(202, r#"{"status":"success"}"#)
        )));
        assert!(retry(judge(
            Channel::Teams,
            &reply(
                200,
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId ..."
            )
        )));
    }
}
