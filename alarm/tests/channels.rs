//! End-to-end: a PROBLEM and its recovery reach Slack, Microsoft Teams (both card formats),
//! DingTalk, WeCom, Feishu, Telegram and PagerDuty, each played by a local server that checks the
//! service's documented payload (required fields, signatures) and answers as the service does:
//! what it refuses is refused the service's way, and the alarm must dead-letter it.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use argus_core::event::EventStatus;
use argus_core::notify::{Channel, ChatReceiver, TeamsFormat};
use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const DING_SECRET: &str = "SEC-ding-123";
const FEISHU_SECRET: &str = "feishu-secret";
const BOT_TOKEN: &str = "123456:ABC-telegram";
const ROUTING_KEY: &str = "R0123456789abcdef0123456789abcde";

/// A request a fake service took (or refused, with why).
#[derive(Debug, Clone)]
struct Seen {
    service: &'static str,
    accepted: bool,
    why: String,
    query: HashMap<String, String>,
    body: Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn b64_hmac(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn text_of(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.trim().is_empty())
}

/// Checks a request as the service would; `Err(why)` when it would refuse it.
fn check(
    service: &str,
    req: &HttpRequest,
    q: &HashMap<String, String>,
    v: &Value,
) -> Result<(), String> {
    let now = argus_core::time::now_secs();
    match service {
        // Slack: `text` is required (it is the notification's fallback too).
        "slack" => text_of(&v["text"]).map(|_| ()).ok_or("no text".into()),
        "teams" => {
            if v["@type"] != "MessageCard" || v["@context"] != "https://schema.org/extensions" {
                return Err("not a MessageCard".into());
            }
            // A MessageCard needs a summary or a text.
            text_of(&v["summary"])
                .or(text_of(&v["text"]))
                .ok_or("no summary or text")?;
            let uri = &v["potentialAction"][0]["targets"][0]["uri"];
            text_of(uri).ok_or("no link")?;
            Ok(())
        }
        "teams-adaptive" => {
            let a = &v["attachments"][0];
            if v["type"] != "message"
                || a["contentType"] != "application/vnd.microsoft.card.adaptive"
            {
                return Err("not a message with an adaptive card".into());
            }
            let c = &a["content"];
            if c["type"] != "AdaptiveCard" || text_of(&c["version"]).is_none() {
                return Err("no AdaptiveCard with a version".into());
            }
            if !c["body"].as_array().is_some_and(|b| {
                b.iter()
                    .all(|x| x["type"] == "TextBlock" && text_of(&x["text"]).is_some())
            }) {
                return Err("body is not text blocks".into());
            }
            Ok(())
        }
        "dingtalk" => {
            if q.get("access_token").map(String::as_str) != Some("DTOKEN") {
                return Err("access_token".into());
            }
            let ts: i64 = q
                .get("timestamp")
                .and_then(|t| t.parse().ok())
                .ok_or("no timestamp")?;
            // DingTalk refuses a timestamp more than an hour off.
            if (ts / 1000 - now).abs() > 3600 {
                return Err("stale timestamp".into());
            }
            let want = b64_hmac(
                DING_SECRET.as_bytes(),
                format!("{ts}\n{DING_SECRET}").as_bytes(),
            );
            if q.get("sign") != Some(&want) {
                return Err("sign not match".into());
            }
            if v["msgtype"] != "text" {
                return Err("msgtype".into());
            }
            text_of(&v["text"]["content"])
                .map(|_| ())
                .ok_or("no content".into())
        }
        "wecom" => {
            if q.get("key").map(String::as_str) != Some("WKEY") {
                return Err("invalid webhook url".into());
            }
            let c = text_of(&v["text"]["content"]).ok_or("no content")?;
            if v["msgtype"] != "text" || c.len() > 2048 {
                return Err("msgtype or content too long".into());
            }
            Ok(())
        }
        "feishu" => {
            let ts = v["timestamp"].as_str().ok_or("no timestamp")?;
            let t: i64 = ts.parse().map_err(|_| "timestamp")?;
            if (t - now).abs() > 3600 {
                return Err("timestamp is not within one hour".into());
            }
            let want = b64_hmac(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b"");
            if v["sign"].as_str() != Some(want.as_str()) {
                return Err("sign match fail".into());
            }
            if v["msg_type"] != "text" {
                return Err("msg_type".into());
            }
            text_of(&v["content"]["text"])
                .map(|_| ())
                .ok_or("no text".into())
        }
        "telegram" => {
            if req.path() != format!("/bot{BOT_TOKEN}/sendMessage") {
                return Err(format!("path {}", req.path()));
            }
            if v["chat_id"] != json!(-1001234) {
                return Err("chat_id".into());
            }
            let t = text_of(&v["text"]).ok_or("no text")?;
            (t.chars().count() <= 4096)
                .then_some(())
                .ok_or("text too long".into())
        }
        "pagerduty" => {
            if v["routing_key"] != ROUTING_KEY {
                return Err("routing_key".into());
            }
            text_of(&v["dedup_key"]).ok_or("dedup_key")?;
            match v["event_action"].as_str() {
                Some("trigger") => {
                    let p = &v["payload"];
                    let s = text_of(&p["summary"]).ok_or("payload.summary")?;
                    text_of(&p["source"]).ok_or("payload.source")?;
                    let sev = p["severity"].as_str().unwrap_or("");
                    if s.len() > 1024 || !["critical", "error", "warning", "info"].contains(&sev) {
                        return Err("summary too long or bad severity".into());
                    }
                    Ok(())
                }
                Some("resolve") | Some("acknowledge") => Ok(()),
                _ => Err("event_action".into()),
            }
        }
        other => Err(format!("unknown service {other}")),
    }
}

/// Answers as the service does, accepting or refusing.
fn answer(service: &str, ok: Result<(), String>) -> HttpResponse {
    match (service, ok) {
        ("slack", Ok(())) => HttpResponse::Ok().body("ok"),
        ("slack", Err(_)) => HttpResponse::BadRequest().body("invalid_payload"),
        ("teams", Ok(())) => HttpResponse::Ok().body("1"),
        ("teams-adaptive", Ok(())) => HttpResponse::Accepted().finish(),
        ("teams" | "teams-adaptive", Err(e)) => HttpResponse::BadRequest().body(e),
        ("dingtalk" | "wecom", Ok(())) => {
            HttpResponse::Ok().json(json!({"errcode": 0, "errmsg": "ok"}))
        }
        ("dingtalk", Err(e)) => HttpResponse::Ok().json(json!({"errcode": 310000, "errmsg": e})),
        ("wecom", Err(e)) => HttpResponse::Ok().json(json!({"errcode": 93000, "errmsg": e})),
        ("feishu", Ok(())) => {
            HttpResponse::Ok().json(json!({"code": 0, "msg": "success", "data": {}}))
        }
        ("feishu", Err(e)) => HttpResponse::Ok().json(json!({"code": 19021, "msg": e})),
        ("telegram", Ok(())) => {
            HttpResponse::Ok().json(json!({"ok": true, "result": {"message_id": 1}}))
        }
        ("telegram", Err(e)) => HttpResponse::BadRequest()
            .json(json!({"ok": false, "error_code": 400, "description": e})),
        ("pagerduty", Ok(())) => HttpResponse::Accepted()
            .json(json!({"status": "success", "message": "Event processed"})),
        (_, Err(e)) => {
            HttpResponse::BadRequest().json(json!({"status": "invalid event", "errors": [e]}))
        }
        (_, Ok(())) => HttpResponse::Ok().finish(),
    }
}

async fn serve(
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
    body: web::Bytes,
    log: web::Data<Mutex<Vec<Seen>>>,
) -> HttpResponse {
    let p = req.path();
    let service: &'static str = match () {
        _ if p.starts_with("/services/") => "slack",
        _ if p.starts_with("/webhookb2/") => "teams",
        _ if p.starts_with("/workflows/") => "teams-adaptive",
        _ if p == "/robot/send" => "dingtalk",
        _ if p == "/cgi-bin/webhook/send" => "wecom",
        _ if p.starts_with("/open-apis/bot/v2/hook/") => "feishu",
        _ if p.starts_with("/bot") => "telegram",
        _ if p == "/v2/enqueue" => "pagerduty",
        _ => return HttpResponse::NotFound().finish(),
    };
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let verdict = if ct.starts_with("application/json") {
        check(service, &req, &q, &v)
    } else {
        Err(format!("content-type {ct}"))
    };
    log.lock().unwrap().push(Seen {
        service,
        accepted: verdict.is_ok(),
        why: verdict.clone().err().unwrap_or_default(),
        query: q.into_inner(),
        body: v,
    });
    answer(service, verdict)
}

struct Services {
    base: String,
    log: Log,
    handle: actix_web::dev::ServerHandle,
}

impl Services {
    async fn start() -> Services {
        let log: Log = Arc::default();
        let data = web::Data::from(log.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(serve))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Services {
            base: format!("http://{addr}"),
            log,
            handle,
        }
    }
    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
    fn accepted(&self, service: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.service == service && s.accepted)
            .collect()
    }
}

fn receiver(kind: Channel, url: Option<String>) -> ChatReceiver {
    ChatReceiver {
        kind,
        url,
        secret: None,
        bot_token: None,
        chat_id: None,
        routing_key: None,
        format: None,
        template: None,
    }
}

#[tokio::test]
async fn problem_and_recovery_reach_every_service_in_its_own_payload() {
    let fx = Services::start().await;
    let b = &fx.base;
    let dir = tempfile::tempdir().unwrap();
    let t = "chat";
    let mut c1 = contact(t, 1, None, None, None);
    c1.channels = vec![
        receiver(
            Channel::Slack,
            Some(format!("{b}/services/T0/B0/SLACKSECRET")),
        ),
        receiver(Channel::Teams, Some(format!("{b}/webhookb2/TEAMSSECRET"))),
        ChatReceiver {
            secret: Some(DING_SECRET.into()),
            ..receiver(
                Channel::Dingtalk,
                Some(format!("{b}/robot/send?access_token=DTOKEN")),
            )
        },
        receiver(
            Channel::Wecom,
            Some(format!("{b}/cgi-bin/webhook/send?key=WKEY")),
        ),
        ChatReceiver {
            secret: Some(FEISHU_SECRET.into()),
            ..receiver(
                Channel::Feishu,
                Some(format!("{b}/open-apis/bot/v2/hook/FEISHUHOOK")),
            )
        },
        ChatReceiver {
            bot_token: Some(BOT_TOKEN.into()),
            chat_id: Some("-1001234".into()),
            ..receiver(Channel::Telegram, Some(b.clone()))
        },
        ChatReceiver {
            routing_key: Some(ROUTING_KEY.into()),
            ..receiver(Channel::Pagerduty, Some(format!("{b}/v2/enqueue")))
        },
    ];
    // Contact 2: Teams Workflows' Adaptive Card, and a receiver template of its own.
    let mut c2 = contact(t, 2, None, None, None);
    c2.channels = vec![ChatReceiver {
        format: Some(TeamsFormat::AdaptiveCard),
        template: Some("{{ status }} on {{ hosts|join(', ') }}\n{% for e in events %}{{ e.metric }} {{ e.value }} {{ e.console_url }}{% endfor %}".into()),
        ..receiver(Channel::Teams, Some(format!("{b}/workflows/ADAPTIVESECRET")))
    }];
    // Contact 3: a DingTalk robot whose secret is wrong: the service refuses, inside a 200.
    let mut c3 = contact(t, 3, None, None, None);
    c3.channels = vec![ChatReceiver {
        secret: Some("not-the-secret".into()),
        ..receiver(
            Channel::Dingtalk,
            Some(format!("{b}/robot/send?access_token=DTOKEN")),
        )
    }];
    let chats = vec![
        Channel::Slack,
        Channel::Teams,
        Channel::Dingtalk,
        Channel::Wecom,
        Channel::Feishu,
        Channel::Telegram,
        Channel::Pagerduty,
    ];
    let mut cfg = config(
        dir.path(),
        vec![tenant_cfg(
            t,
            vec![c1, c2, c3],
            vec![],
            vec![
                sub_all(t, 1, None, Some(1), chats.clone()),
                sub_all(t, 2, None, Some(2), chats.clone()),
                sub_all(t, 3, None, Some(3), chats),
            ],
        )],
    );
    cfg.console_url = "https://console.example".into();
    let alarm = argus_alarm::start(cfg).await.unwrap();
    let problem = event(t, "web-1", 7, 1, EventStatus::Problem, 1);
    post_events(&alarm.url(), std::slice::from_ref(&problem)).await;
    let services = [
        "slack",
        "teams",
        "teams-adaptive",
        "dingtalk",
        "wecom",
        "feishu",
        "telegram",
        "pagerduty",
    ];
    wait_for("the PROBLEM at every service", 60, || {
        services.iter().all(|s| !fx.accepted(s).is_empty())
    })
    .await;
    post_events(&alarm.url(), &[event(t, "web-1", 7, 1, EventStatus::Ok, 2)]).await;
    wait_for("the OK at every service", 60, || {
        services.iter().all(|s| fx.accepted(s).len() >= 2)
    })
    .await;

    let first = |s: &str| fx.accepted(s)[0].body.clone();
    let second = |s: &str| fx.accepted(s)[1].body.clone();
    // Slack: the default message, its first line the status and priority.
    let slack = first("slack")["text"].as_str().unwrap().to_string();
    assert!(
        slack.starts_with("[P1][PROBLEM] cpu.busy on web-1"),
        "{slack}"
    );
    assert!(
        slack.contains("https://console.example/history?event="),
        "{slack}"
    );
    assert!(
        slack.contains("acknowledge: "),
        "a problem carries its ack link: {slack}"
    );
    let ok = second("slack")["text"].as_str().unwrap().to_string();
    assert!(ok.starts_with("[P1][OK] cpu.busy on web-1"), "{ok}");
    assert!(!ok.contains("acknowledge"), "{ok}");
    // Teams: the card's title and colour follow the status; the link opens the console.
    let card = first("teams");
    assert_eq!(card["title"], "[P1][PROBLEM] cpu.busy on web-1");
    assert_eq!(card["themeColor"], "D63333");
    assert_eq!(second("teams")["themeColor"], "2EB886");
    let adaptive = first("teams-adaptive");
    let blocks = &adaptive["attachments"][0]["content"]["body"];
    assert_eq!(
        blocks[0]["text"], "PROBLEM on web-1",
        "the receiver's own template"
    );
    assert!(blocks[1]["text"]
        .as_str()
        .unwrap()
        .starts_with("cpu.busy 97.5 https://console.example/history?event="));
    // DingTalk, WeCom, Feishu, Telegram: signed where configured, the text the message.
    for s in ["dingtalk", "wecom"] {
        assert!(first(s)["text"]["content"]
            .as_str()
            .unwrap()
            .contains("PROBLEM"));
        assert!(second(s)["text"]["content"]
            .as_str()
            .unwrap()
            .contains("[OK]"));
    }
    assert!(fx.accepted("dingtalk")[0].query.contains_key("sign"));
    assert!(first("feishu")["content"]["text"]
        .as_str()
        .unwrap()
        .contains("web-1"));
    assert!(second("telegram")["text"]
        .as_str()
        .unwrap()
        .starts_with("[P1][OK]"));
    // PagerDuty: trigger, then resolve under the same dedup_key.
    let (trig, res) = (first("pagerduty"), second("pagerduty"));
    assert_eq!(trig["event_action"], "trigger");
    assert_eq!(trig["payload"]["severity"], "critical");
    assert_eq!(trig["payload"]["source"], "web-1");
    assert_eq!(
        trig["payload"]["summary"],
        "[P1] cpu.busy on web-1: all(#3) > 90, value 97.5"
    );
    assert_eq!(trig["payload"]["custom_details"]["tags"], "dc=eu1");
    assert!(trig["links"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with("https://console.example/"));
    assert_eq!(res["event_action"], "resolve");
    assert_eq!(res["dedup_key"], trig["dedup_key"]);
    assert_eq!(trig["dedup_key"], format!("argus/{t}/{}", problem.id));

    // The wrong DingTalk secret: refused by the service (errcode in a 200), dead-lettered with
    // the service's reason; every other delivery went through.
    wait_for_async("the refused DingTalk delivery dead", 60, || async {
        let (_, d) = get(&format!(
            "{}/internal/v1/deliveries?tenant={t}&state=dead",
            alarm.url()
        ))
        .await;
        d["deliveries"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let (_, dead) = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}&state=dead",
        alarm.url()
    ))
    .await;
    let dead = dead["deliveries"].as_array().unwrap().clone();
    assert!(
        dead.iter()
            .all(|d| d["contact_id"] == 3 && d["channel"] == "dingtalk"),
        "{dead:?}"
    );
    let err = dead[0]["last_error"].as_str().unwrap();
    assert!(
        err.contains("errcode 310000") && err.contains("sign not match"),
        "{err}"
    );
    let (_, all) = get(&format!(
        "{}/internal/v1/deliveries?tenant={t}&limit=100",
        alarm.url()
    ))
    .await;
    let all = all["deliveries"].as_array().unwrap().clone();
    assert_eq!(
        all.len(),
        2 * 9,
        "8 receivers that work and one that does not, twice: {all:?}"
    );
    // Deliveries show where they went without the keys in the URLs.
    let shown = serde_json::to_string(&all).unwrap();
    for secret in [
        "SLACKSECRET",
        "TEAMSSECRET",
        "DTOKEN",
        "WKEY",
        "FEISHUHOOK",
        "ADAPTIVESECRET",
        BOT_TOKEN,
        ROUTING_KEY,
    ] {
        assert!(!shown.contains(secret), "{secret} in the delivery list");
    }
    // Only the wrong secret was refused.
    let refused: Vec<(&str, String)> = fx
        .seen()
        .into_iter()
        .filter(|s| !s.accepted)
        .map(|s| (s.service, s.why))
        .collect();
    assert!(
        refused
            .iter()
            .all(|(s, why)| *s == "dingtalk" && why == "sign not match"),
        "{refused:?}"
    );
    let slack_d = all.iter().find(|d| d["channel"] == "slack").unwrap();
    assert_eq!(slack_d["destination"], format!("slack {}/…", b));
    alarm.stop().await;
    fx.handle.stop(false).await;
}
