//! Hostile and bad input against the running platform (issue 12): a table of bad requests per
//! API — the transfer's `/api/v1/push` (Argus batch) and `/v1/push` (open-falcon), the agent's
//! `/v1/push`, and the web's `/api/v1/query`.
//!
//! Each row states the expected status and error message (or, for a batch that is read point by
//! point, which points are refused, by index, field and reason). Push rows carry a good point
//! next to the bad ones — or, when the whole body is refused, send one right after — and read it
//! back through the web query endpoint; after every row every component must still answer
//! `/health`. A row that fails names itself, so a regression points at the input that caused it.

mod common;

use argus::standalone::{start, Platform, Ports, StandaloneConfig};
use argus_core::wire::{encode_body, Encoding};
use common::figures::grouped;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Fails the row with a message unless `cond`.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            let mut m = format!($($msg)+);
            if m.len() > 600 {
                let mut end = 600;
                while !m.is_char_boundary(end) {
                    end -= 1;
                }
                m.truncate(end);
                m.push_str("…");
            }
            return Err(m);
        }
    };
}

/// Which push API a row goes to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    /// Transfer `POST /api/v1/push`, `{"points": [...]}`.
    TransferArgus,
    /// Transfer `POST /v1/push`, `[{..., "tags": "k=v"}]`.
    TransferFalcon,
    /// Agent `POST /v1/push` (falcon format, no token: the local push port).
    AgentFalcon,
}

impl Api {
    fn slug(self) -> &'static str {
        match self {
            Api::TransferArgus => "ta",
            Api::TransferFalcon => "tf",
            Api::AgentFalcon => "af",
        }
    }
    fn falcon(self) -> bool {
        self != Api::TransferArgus
    }
}

/// The body of a push row.
enum Body {
    /// Exactly these bytes (the whole body is expected to be refused).
    Raw(Vec<u8>),
    /// These items after a good point at index 0, wrapped in the API's format.
    Items(Vec<Value>),
    /// These item bytes (which the JSON parser refuses) after a good point at index 0.
    RawItems(Vec<u8>),
    /// Like `Items`, with the whole body then compressed.
    Compressed(Encoding, Vec<Value>),
}

/// What a push row expects.
enum Expect {
    /// The whole body refused with `status` and an error containing `msg`.
    Refused { status: u16, msg: &'static str },
    /// 200; `accepted` points kept (the good one included) and exactly these refused:
    /// (index, field, words in the reason).
    Partial {
        accepted: u64,
        rejected: Vec<(usize, &'static str, &'static str)>,
    },
}

struct Row {
    name: &'static str,
    content_encoding: Option<&'static str>,
    body: Body,
    expect: Expect,
    /// The value of tag `note` on the good point: lets a row check metacharacters stored
    /// verbatim.
    good_note: &'static str,
}

impl Row {
    /// The hostile inputs of this row: its bad points, or its refused body.
    fn inputs(&self) -> usize {
        match &self.body {
            Body::Raw(_) | Body::RawItems(_) => 1,
            Body::Items(items) | Body::Compressed(_, items) => items.len().max(1),
        }
    }
}

fn row(name: &'static str, body: Body, expect: Expect) -> Row {
    Row {
        name,
        content_encoding: None,
        body,
        expect,
        good_note: "plain",
    }
}

fn refused(status: u16, msg: &'static str) -> Expect {
    Expect::Refused { status, msg }
}

fn partial(accepted: u64, rejected: Vec<(usize, &'static str, &'static str)>) -> Expect {
    Expect::Partial { accepted, rejected }
}

/// A point in the API's format; `tags` in falcon string form.
fn point(api: Api, metric: &str, value: Value, ts: Value, tags: &str) -> Value {
    let tags = if api.falcon() {
        json!(tags)
    } else {
        let mut m = serde_json::Map::new();
        for kv in tags.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            m.insert(k.into(), json!(v));
        }
        Value::Object(m)
    };
    json!({"endpoint": "hostile", "metric": metric, "value": value, "timestamp": ts, "tags": tags})
}

fn wrap(api: Api, items: Vec<Value>) -> Vec<u8> {
    let v = if api.falcon() {
        Value::Array(items)
    } else {
        json!({ "points": items })
    };
    serde_json::to_vec(&v).unwrap()
}

fn now() -> i64 {
    argus_core::time::now_secs()
}

/// A point like `point` with one field replaced by a hostile value.
fn with(api: Api, field: &str, v: Value) -> Value {
    let mut p = point(api, "bad.metric", json!(1), json!(now()), "a=1");
    p[field] = v;
    p
}

fn many_tags(api: Api, n: usize, reverse: bool) -> Value {
    let mut keys: Vec<usize> = (0..n).collect();
    if reverse {
        keys.reverse();
    }
    let mut p = point(api, "bad.tags", json!(1), json!(now()), "");
    p["tags"] = if api.falcon() {
        json!(keys
            .iter()
            .map(|i| format!("k{i:07}=v"))
            .collect::<Vec<_>>()
            .join(","))
    } else {
        Value::Object(
            keys.iter()
                .map(|i| (format!("k{i:07}"), json!("v")))
                .collect(),
        )
    };
    p
}

fn deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Raw item bytes wrapped in the API's format, for bodies that are not valid JSON.
fn raw_items(api: Api, inner: &[u8]) -> Vec<u8> {
    let (head, tail): (&[u8], &[u8]) = if api.falcon() {
        (b"[", b"]")
    } else {
        (b"{\"points\":[", b"]}")
    };
    [head, inner, tail].concat()
}

/// Rows every push API shares: per-point rejections next to a good point, and bodies refused
/// whole.
fn common_rows(api: Api) -> Vec<Row> {
    let t = now();
    let long = "m".repeat(300);
    // The falcon value is any JSON read by hand; the batch's is an f64 read by serde.
    let value_type_words = if api.falcon() {
        "must be a number"
    } else {
        "invalid type"
    };
    // The falcon endpoint is optional (the receiver's default); the batch's is not.
    let first_required = if api.falcon() { "metric" } else { "endpoint" };
    let mut rows = vec![
        row(
            "truncated body",
            Body::Raw(br#"{"points":[{"endpoint":"h","metric":"#.to_vec()),
            refused(400, "not valid JSON"),
        ),
        row(
            "empty body",
            Body::Raw(vec![]),
            refused(400, "not valid JSON"),
        ),
        // Faults the JSON parser finds inside one item refuse that item only.
        row(
            "invalid UTF-8 inside a string",
            Body::RawItems(
                [
                    &br#"{"endpoint":"h","metric":"cpu"#[..],
                    &[0xff, 0xfe],
                    &br#"","value":1,"timestamp":1}"#[..],
                ]
                .concat(),
            ),
            partial(1, vec![(1, "point", "not valid JSON")]),
        ),
        row(
            "lone UTF-16 surrogate escape",
            Body::RawItems(
                br#"{"endpoint":"h","metric":"\ud800","value":1,"timestamp":1}"#.to_vec(),
            ),
            partial(1, vec![(1, "point", "hex escape")]),
        ),
        row(
            "deeply nested JSON (100k levels)",
            Body::RawItems(deep(100_000).into_bytes()),
            partial(1, vec![(1, "point", "recursion limit")]),
        ),
        row(
            "bare NaN token",
            Body::RawItems(br#"{"endpoint":"h","metric":"m","value":NaN,"timestamp":1}"#.to_vec()),
            partial(1, vec![(1, "point", "not valid JSON")]),
        ),
        row(
            "number beyond f64 (1e999)",
            Body::RawItems(
                br#"{"endpoint":"h","metric":"m","value":1e999,"timestamp":1}"#.to_vec(),
            ),
            partial(1, vec![(1, "point", "out of range")]),
        ),
        row(
            "wrong types",
            Body::Items(vec![
                with(api, "value", json!([1])),
                with(api, "timestamp", json!("yesterday")),
                with(api, "metric", json!({"$ne": null})),
                with(api, "step", json!(-5)),
                with(api, "tags", json!(17)),
                json!(42),
                json!(null),
            ]),
            partial(
                1,
                vec![
                    (1, "value", value_type_words),
                    (2, "timestamp", "invalid type"),
                    (3, "metric", "invalid type"),
                    (4, "step", "invalid value"),
                    (5, "tags", "invalid type"),
                    (6, "point", "invalid type"),
                    (7, "point", "invalid type"),
                ],
            ),
        ),
        row(
            "missing fields",
            Body::Items(vec![
                json!({"endpoint": "h", "value": 1, "timestamp": t}),
                json!({}),
            ]),
            partial(
                1,
                vec![
                    (1, "metric", "missing field"),
                    (2, first_required, "missing field"),
                ],
            ),
        ),
        row(
            "absurd timestamps",
            Body::Items(vec![
                with(api, "timestamp", json!(i64::MAX)),
                with(api, "timestamp", json!(i64::MIN)),
                with(api, "timestamp", json!(0)),
                with(api, "timestamp", json!(1e30)),
                with(api, "timestamp", json!(u64::MAX)),
                with(api, "timestamp", json!(t + 86_400)),
            ]),
            partial(
                1,
                vec![
                    (1, "timestamp", "in the future"),
                    (2, "timestamp", "in the past"),
                    (3, "timestamp", "in the past"),
                    (4, "timestamp", "invalid type"),
                    (5, "timestamp", "invalid value"),
                    (6, "timestamp", "in the future"),
                ],
            ),
        ),
        row(
            "absurd steps",
            Body::Items(vec![
                with(api, "step", json!(0)),
                with(api, "step", json!(u32::MAX)),
                with(api, "step", json!(1u64 << 40)),
            ]),
            partial(
                1,
                vec![
                    (1, "step", "at least 1"),
                    (2, "step", "exceeds the limit"),
                    (3, "step", "invalid value"),
                ],
            ),
        ),
        row(
            "huge tag count (10k) and one over the limit (33)",
            Body::Items(vec![
                many_tags(api, 10_000, false),
                many_tags(api, 33, false),
            ]),
            partial(
                1,
                vec![
                    (1, "tags", "has 10000 tags, the limit is 32"),
                    (2, "tags", "has 33 tags"),
                ],
            ),
        ),
        row(
            "huge reverse-ordered tag count (200k, a 2 MB body)",
            Body::Items(vec![many_tags(api, 200_000, true)]),
            partial(1, vec![(1, "tags", "has 200000 tags")]),
        ),
        row(
            "names too long, empty, with control characters",
            Body::Items(vec![
                with(api, "metric", json!(long)),
                with(api, "endpoint", json!("e".repeat(1 << 20))),
                with(api, "metric", json!("")),
                with(api, "metric", json!("cpu\u{0}idle")),
                with(api, "metric", json!("ｃｐｕ")),
            ]),
            partial(
                1,
                vec![
                    (1, "metric", "300 bytes long, the limit is 256"),
                    (2, "endpoint", "1048576 bytes long"),
                    (3, "metric", "must not be empty"),
                    (4, "metric", "not allowed"),
                    (5, "metric", "not allowed"),
                ],
            ),
        ),
        row(
            "SQL and HTML metacharacters in names",
            Body::Items(vec![
                with(api, "metric", json!("cpu'; DROP TABLE points;--")),
                with(api, "metric", json!("x\" OR \"1\"=\"1")),
                with(api, "endpoint", json!("<script>alert(1)</script>")),
                with(api, "endpoint", json!("<img src=x onerror=alert(1)>")),
                with(api, "metric", json!("../../etc/passwd")),
            ]),
            partial(
                2,
                vec![
                    (1, "metric", "'\\''"),
                    (2, "metric", "'\"'"),
                    (3, "endpoint", "'<'"),
                    (4, "endpoint", "'<'"),
                ],
            ),
        ),
        Row {
            good_note: "<script>alert('x')</script>;DROP TABLE t;--",
            ..row(
                "metacharacters in a tag value are kept verbatim, as data",
                Body::Items(vec![]),
                partial(1, vec![]),
            )
        },
        row(
            "unknown fields and a payload tenant are ignored",
            Body::Items(vec![{
                let mut p = point(api, "good.extra", json!(2), json!(t), "a=1");
                p["tenant"] = json!("victim");
                p["unknown"] = json!({"nested": [1, 2, {"x": null}]});
                p
            }]),
            partial(2, vec![]),
        ),
        row(
            "many bad points in one batch (5000): the first 1000 refusals listed, the rest counted",
            Body::Items((0..5000).map(|_| with(api, "metric", json!(""))).collect()),
            partial(
                1,
                (1..=1000)
                    .map(|i| (i, "metric", "must not be empty"))
                    .chain([(1001, "points", "4000 more refusals")])
                    .collect(),
            ),
        ),
        row(
            "many undecodable points (3000): the first 1000 refusals listed, the rest counted",
            Body::Items((0..3000).map(|_| json!({})).collect()),
            partial(
                1,
                (1..=1000)
                    .map(|i| (i, first_required, "missing field"))
                    .chain([(1001, "points", "2000 more points")])
                    .collect(),
            ),
        ),
    ];
    if api.falcon() {
        rows.extend(falcon_rows(api));
    } else {
        rows.extend(argus_rows(api));
    }
    rows
}

/// Rows specific to the open-falcon format (numeric strings, the `k=v` tag string).
fn falcon_rows(api: Api) -> Vec<Row> {
    vec![
        row(
            "not an array",
            Body::Raw(b"5".to_vec()),
            refused(400, "expected a JSON array of points, got a number"),
        ),
        row(
            "NaN and Infinity as strings",
            Body::Items(vec![
                with(api, "value", json!("NaN")),
                with(api, "value", json!("Infinity")),
                with(api, "value", json!("-inf")),
                with(api, "value", json!("1e999")),
                with(api, "value", json!("12abc")),
                with(api, "value", json!(true)),
            ]),
            partial(
                1,
                vec![
                    (1, "value", "finite"),
                    (2, "value", "finite"),
                    (3, "value", "finite"),
                    (4, "value", "finite"),
                    (5, "value", "is not a number"),
                    (6, "value", "must be a number"),
                ],
            ),
        ),
        row(
            "bad tag strings and counter types",
            Body::Items(vec![
                with(api, "tags", json!("a=1,novalue")),
                with(api, "tags", json!("a=b\nc")),
                with(api, "tags", json!("=v")),
                with(api, "counterType", json!("<script>")),
            ]),
            partial(
                1,
                vec![
                    (1, "tags", "not of the form key=value"),
                    (2, "tags.a", "not allowed"),
                    (3, "tags", "must not be empty"),
                    (4, "counterType", "is not GAUGE, COUNTER or DERIVE"),
                ],
            ),
        ),
    ]
}

/// Rows specific to the Argus batch.
fn argus_rows(api: Api) -> Vec<Row> {
    vec![
        row(
            "not an object with points",
            Body::Raw(b"[1,2]".to_vec()),
            refused(400, "not valid JSON"),
        ),
        row(
            "points not an array",
            Body::Raw(br#"{"points":{"a":1}}"#.to_vec()),
            refused(400, "not valid JSON"),
        ),
        row(
            "NaN and Infinity as strings",
            Body::Items(vec![
                with(api, "value", json!("NaN")),
                with(api, "value", json!("Infinity")),
            ]),
            partial(
                1,
                vec![(1, "value", "invalid type"), (2, "value", "invalid type")],
            ),
        ),
        row(
            "tag values of the wrong type",
            Body::Items(vec![
                with(api, "tags", json!({"k": 7})),
                with(api, "tags", json!({"k": {"deep": "x"}})),
                with(api, "tags", json!({"k": "a,b=c"})),
            ]),
            partial(
                1,
                vec![
                    (1, "tags.k", "invalid type"),
                    (2, "tags.k", "invalid type"),
                    (3, "tags.k", "not allowed"),
                ],
            ),
        ),
    ]
}

/// Content-Encoding rows of the transfer (Argus batch).
fn encoding_rows(api: Api, body_limit: usize, max_points: usize) -> Vec<Row> {
    // A bomb: valid JSON (an empty batch padded with whitespace) decompressing past the limit, so
    // a missing bound would show as a 200, not as a parse error.
    let bomb_json = [
        &b"{\"points\":["[..],
        &vec![b' '; body_limit + (1 << 20)],
        &b"]}"[..],
    ]
    .concat();
    let gzip_bomb = encode_body(Encoding::Gzip, &bomb_json);
    let zstd_bomb = encode_body(Encoding::Zstd, &bomb_json);
    assert!(gzip_bomb.len() < body_limit / 100 && zstd_bomb.len() < body_limit / 100);
    vec![
        Row {
            content_encoding: Some("zstd"),
            ..row(
                "zstd body",
                Body::Compressed(Encoding::Zstd, vec![with(api, "metric", json!(""))]),
                partial(1, vec![(1, "metric", "must not be empty")]),
            )
        },
        Row {
            content_encoding: Some("br"),
            ..row(
                "unsupported Content-Encoding",
                Body::Raw(b"{\"points\":[]}".to_vec()),
                refused(400, "unsupported Content-Encoding"),
            )
        },
        Row {
            content_encoding: Some("zstd"),
            ..row(
                "zstd header on an uncompressed body",
                Body::Raw(b"{\"points\":[]}".to_vec()),
                refused(400, "could not be decompressed as zstd"),
            )
        },
        Row {
            content_encoding: Some("gzip"),
            ..row(
                "gzip header on an uncompressed body",
                Body::Raw(b"{\"points\":[]}".to_vec()),
                refused(400, "gzip"),
            )
        },
        Row {
            content_encoding: Some("zstd"),
            ..row(
                "zstd bomb past the body limit",
                Body::Raw(zstd_bomb),
                refused(413, "exceeds the size limit"),
            )
        },
        Row {
            content_encoding: Some("gzip"),
            ..row(
                "gzip bomb past the body limit",
                Body::Raw(gzip_bomb),
                refused(413, "size limit"),
            )
        },
        row(
            "oversized body",
            Body::Raw(vec![b' '; body_limit + 1]),
            refused(413, "size limit"),
        ),
        Row {
            content_encoding: Some("gzip"),
            ..row(
                "gzip of tiny points past the points cap",
                Body::Raw(tiny_points(api, max_points + 1)),
                refused(413, more_than(max_points)),
            )
        },
    ]
}

/// The refusal of a body of more than `max` points.
fn more_than(max: usize) -> &'static str {
    Box::leak(format!("more than {max} points in one request").into_boxed_str())
}

/// A gzip body of `n` empty points: a few KiB that would decode into `n` refusals.
fn tiny_points(api: Api, n: usize) -> Vec<u8> {
    let items = vec!["{}"; n].join(",");
    let json = if api.falcon() {
        format!("[{items}]")
    } else {
        format!("{{\"points\":[{items}]}}")
    };
    encode_body(Encoding::Gzip, json.as_bytes())
}

/// The agent's push port: gzip is decoded by the HTTP layer, with its own 16 MiB bound.
fn agent_encoding_rows(api: Api) -> Vec<Row> {
    let limit = 16 << 20;
    let max_points = argus_agent::AgentConfig::default().buffer_max_points;
    let bomb = encode_body(
        Encoding::Gzip,
        &[&b"["[..], &vec![b' '; limit + (1 << 20)], &b"]"[..]].concat(),
    );
    vec![
        Row {
            content_encoding: Some("gzip"),
            ..row(
                "gzip body",
                Body::Compressed(Encoding::Gzip, vec![with(api, "metric", json!(""))]),
                partial(1, vec![(1, "metric", "must not be empty")]),
            )
        },
        Row {
            content_encoding: Some("gzip"),
            ..row(
                "gzip bomb past the body limit",
                Body::Raw(bomb),
                refused(413, "size limit"),
            )
        },
        row(
            "oversized body",
            Body::Raw(vec![b' '; limit + 1]),
            refused(413, "size limit"),
        ),
        Row {
            content_encoding: Some("gzip"),
            ..row(
                "gzip of tiny points past what the buffer holds",
                Body::Raw(tiny_points(api, max_points + 1)),
                refused(413, more_than(max_points)),
            )
        },
    ]
}

struct Env {
    p: Platform,
    c: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let p = start(StandaloneConfig {
            data_dir: dir.path().to_path_buf(),
            ports: Ports::any(),
            agent: true,
            step_secs: 3600,
            ..Default::default()
        })
        .await
        .expect("standalone starts");
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        Env { p, c, _dir: dir }
    }

    fn url(&self, api: Api) -> String {
        match api {
            Api::TransferArgus => format!("{}/api/v1/push", self.p.transfer_url),
            Api::TransferFalcon => format!("{}/v1/push", self.p.transfer_url),
            Api::AgentFalcon => format!("{}/v1/push", self.p.agent_url.clone().unwrap()),
        }
    }

    /// Posts `body`; the status and the answer (JSON, or the text as a JSON string).
    async fn push(&self, api: Api, enc: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self.c.post(self.url(api)).body(body);
        if api != Api::AgentFalcon {
            req = req.bearer_auth(&self.p.credentials.agent_token);
        }
        if let Some(e) = enc {
            req = req.header("content-encoding", e);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            // A server may answer an oversized upload early and close; the client then sees a
            // reset rather than the answer. Report it as such, so the row says what happened.
            Err(e) => (0, Value::String(format!("request failed: {e}"))),
        }
    }

    async fn query(&self, params: &str) -> (u16, Value, String) {
        let r = self
            .c
            .get(format!("{}/api/v1/query?{params}", self.p.web_url))
            .bearer_auth(&self.p.credentials.api_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("web does not answer a query: {}", e.without_url()));
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            ctype,
        )
    }

    /// Every component still answers `/health`.
    async fn assert_healthy(&self, after: &str) {
        let mut urls = vec![&self.p.transfer_url, &self.p.web_url, &self.p.store_url];
        if let Some(a) = &self.p.agent_url {
            urls.push(a);
        }
        for u in urls {
            let r = self.c.get(format!("{u}/health")).send().await;
            assert!(
                matches!(&r, Ok(r) if r.status() == 200),
                "{u}/health does not answer after row {after:?}: {r:?}"
            );
        }
    }

    /// Waits until the good point of a row is readable through the web, and checks it.
    async fn readable(&self, metric: &str, value: f64, note: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, data, _) = self.query(&format!("metric={metric}")).await;
            check!(status == 200, "reading back {metric}: query failed: {data}");
            // A series can be listed a moment before its first point is readable.
            let with_points = data
                .as_array()
                .and_then(|a| a.first())
                .filter(|s| s["points"].as_array().is_some_and(|p| !p.is_empty()));
            if let Some(s) = with_points {
                check!(
                    s["key"]["tenant"] == "demo"
                        && s["key"]["tags"]["note"] == note
                        && s["points"][0][1].as_f64() == Some(value),
                    "the good point read back differs: {s}"
                );
                return Ok(());
            }
            check!(
                Instant::now() < deadline,
                "the good point {metric} is not readable through the web"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn good_point(api: Api, metric: &str, value: f64, note: &str) -> Value {
    let mut p = point(api, metric, json!(value), json!(now()), "");
    p["tags"] = if api.falcon() {
        json!(format!("note={note}"))
    } else {
        json!({ "note": note })
    };
    p
}

/// Checks one push answer against the row's expectation.
async fn check_push(
    env: &Env,
    api: Api,
    expect: &Expect,
    (status, resp): (u16, Value),
    good: &Value,
) -> Result<(), String> {
    match expect {
        Expect::Refused { status: want, msg } => {
            check!(
                status == *want,
                "status {status}, want {want}; answer {resp}"
            );
            let text = resp["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(resp.to_string());
            check!(text.contains(msg), "message {text:?} lacks {msg:?}");
            // The next good push still lands.
            let (s, r) = env.push(api, None, wrap(api, vec![good.clone()])).await;
            check!(
                s == 200 && r["accepted"] == json!(1),
                "a good push after it got {s}: {r}"
            );
        }
        Expect::Partial { accepted, rejected } => {
            check!(status == 200, "status {status}, want 200; answer {resp}");
            check!(
                resp["accepted"] == json!(accepted),
                "accepted {}, want {accepted}",
                resp["accepted"]
            );
            let got = resp["rejected"].as_array().cloned().unwrap_or_default();
            check!(
                got.len() == rejected.len(),
                "{} rejections, want {}: {resp}",
                got.len(),
                rejected.len()
            );
            for (g, (index, field, words)) in got.iter().zip(rejected) {
                let reason = g["reason"].as_str().unwrap_or_default();
                check!(
                    g["index"] == json!(index)
                        && g["field"] == json!(field)
                        && reason.contains(words),
                    "rejection {g}, want index {index}, field {field:?}, reason with {words:?}"
                );
            }
        }
    }
    Ok(())
}

/// Runs the rows against `api`. Every row runs (a misbehaving row does not hide the next
/// ones); the test then fails listing each misbehaving row by name and what it got. A component
/// that stops answering `/health` fails at once. Prints the rows and hostile inputs (bad points
/// or bodies) run, for docs/SECURITY.md.
async fn run_rows(env: &Env, api: Api, rows: Vec<Row>) {
    let n = rows.len();
    let mut inputs = 0;
    let mut failures = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let name = row.name;
        let metric = format!("good.{}.{i}", api.slug());
        let value = 1000.0 + i as f64;
        let good = good_point(api, &metric, value, row.good_note);
        inputs += row.inputs();
        let body = match row.body {
            Body::Raw(b) => b,
            Body::RawItems(bad) => raw_items(
                api,
                &[&serde_json::to_vec(&good).unwrap()[..], b",", &bad].concat(),
            ),
            Body::Items(items) => wrap(api, [vec![good.clone()], items].concat()),
            Body::Compressed(enc, items) => {
                encode_body(enc, &wrap(api, [vec![good.clone()], items].concat()))
            }
        };
        let answer = env.push(api, row.content_encoding, body).await;
        let mut result = check_push(env, api, &row.expect, answer, &good).await;
        env.assert_healthy(name).await;
        if result.is_ok() {
            result = env.readable(&metric, value, row.good_note).await;
        }
        if let Err(e) = result {
            failures.push(format!("{api:?} row {name:?}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} rows misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("figures: {api:?}: {n} rows, {inputs} hostile inputs, all answered as expected");
}

/// The agent's rows: the common ones and its own Content-Encoding rows.
fn agent_rows() -> Vec<Row> {
    let api = Api::AgentFalcon;
    let mut rows = common_rows(api);
    rows.extend(agent_encoding_rows(api));
    rows
}

/// The transfer's Content-Encoding rows at its default body limit.
fn transfer_encoding_rows() -> Vec<Row> {
    let cfg = argus_transfer::TransferConfig::default();
    encoding_rows(
        Api::TransferArgus,
        cfg.max_body_bytes,
        cfg.max_points_per_request,
    )
}

/// Found by this suite (transfer): every gzip push was refused with 400 "body could not be
/// decompressed as gzip: invalid gzip header" — actix-web built with `compress-gzip` already
/// inflated the `web::Bytes` body, and the handler then ran `decode_body(Gzip, ..)` on plain JSON.
fn gzip_rows() -> Vec<Row> {
    let api = Api::TransferArgus;
    vec![Row {
        content_encoding: Some("gzip"),
        ..row(
            "gzip body",
            Body::Compressed(Encoding::Gzip, vec![with(api, "metric", json!(""))]),
            partial(1, vec![(1, "metric", "must not be empty")]),
        )
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_argus_push_refuses_bad_input_and_keeps_good_points() {
    let env = Env::start().await;
    let api = Api::TransferArgus;
    run_rows(&env, api, common_rows(api)).await;
    env.p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_falcon_push_refuses_bad_input_and_keeps_good_points() {
    let env = Env::start().await;
    let api = Api::TransferFalcon;
    run_rows(&env, api, common_rows(api)).await;
    env.p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_falcon_push_refuses_bad_input_and_keeps_good_points() {
    let env = Env::start().await;
    run_rows(&env, Api::AgentFalcon, agent_rows()).await;
    env.p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_push_bounds_and_decodes_compressed_bodies() {
    let env = Env::start().await;
    run_rows(&env, Api::TransferArgus, transfer_encoding_rows()).await;
    env.p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_accepts_gzip_bodies() {
    let env = Env::start().await;
    run_rows(&env, Api::TransferArgus, gzip_rows()).await;
    env.p.stop().await;
}

/// One query row: parameters, expected status, and words the answer must contain (for a 200,
/// the answer must be a JSON array with this many series).
struct QueryRow {
    name: &'static str,
    params: String,
    status: u16,
    msg: &'static str,
    series: Option<usize>,
}

fn q(name: &'static str, params: &str, status: u16, msg: &'static str) -> QueryRow {
    QueryRow {
        name,
        params: params.to_string(),
        status,
        msg,
        series: None,
    }
}

fn q_ok(name: &'static str, params: &str, series: usize) -> QueryRow {
    QueryRow {
        name,
        params: params.to_string(),
        status: 200,
        msg: "",
        series: Some(series),
    }
}

/// A platform with one known series, `q.known`, to check that bad queries neither hide nor leak
/// it.
async fn env_with_known_series() -> Env {
    let env = Env::start().await;
    let api = Api::TransferArgus;
    let (s, r) = env
        .push(
            api,
            None,
            wrap(api, vec![good_point(api, "q.known", 7.0, "x")]),
        )
        .await;
    assert_eq!((s, &r["accepted"]), (200, &json!(1)), "{r}");
    env.readable("q.known", 7.0, "x").await.unwrap();
    env
}

/// Runs every query row, then fails listing each misbehaving one. Returns the number run.
async fn run_query_rows(env: &Env, rows: Vec<QueryRow>) -> usize {
    let n = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let answer = env.query(&row.params).await;
        env.assert_healthy(row.name).await;
        if let Err(e) = check_query(&row, answer) {
            failures.push(format!("query row {:?}: {e}", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} rows misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}

fn query_rows() -> Vec<QueryRow> {
    let big = "m".repeat(16 << 10);
    vec![
        q_ok("a plain query", "metric=q.known", 1),
        q(
            "end before start",
            "start=200&end=100",
            400,
            "must not be before start",
        ),
        q(
            "an unknown aggregation echoing HTML",
            "agg=%3Cscript%3E",
            400,
            "unknown aggregation",
        ),
        q("a malformed tag filter", "tags=novalue", 400, "key=value"),
        q_ok(
            "SQL metacharacters in a name match nothing",
            "metric=q.known%27%20OR%20%271%27%3D%271",
            0,
        ),
        q_ok(
            "HTML in a name matches nothing",
            "endpoint=%3Cscript%3Ealert(1)%3C/script%3E",
            0,
        ),
        q_ok(
            "absurd time range",
            "metric=q.known&start=-9223372036854775808&end=9223372036854775807",
            1,
        ),
        q_ok(
            "absurd range with the smallest step",
            "metric=q.known&start=-9223372036854775808&end=9223372036854775807&step=1",
            1,
        ),
        q_ok("step 0 means raw points", "metric=q.known&step=0", 1),
        q_ok("largest step", "metric=q.known&step=4294967295", 1),
        q_ok("a 16 KiB name", &format!("metric={big}"), 0),
        q_ok(
            "invalid UTF-8 in a parameter is read lossily and matches nothing",
            "metric=%FF%FE",
            0,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_query_refuses_bad_parameters_and_stays_up() {
    let env = env_with_known_series().await;
    let n = run_query_rows(&env, query_rows()).await;
    eprintln!("figures: web query: {n} rows");
    env.p.stop().await;
}

/// Found by this suite (web): a query string that did not deserialize was answered by actix's
/// default handler — `text/plain`, "Query deserialize error: invalid digit found in string" —
/// instead of the JSON `{"error", "field"}` every other API error uses, naming the parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_query_parameter_errors_are_json_and_name_the_parameter() {
    let env = env_with_known_series().await;
    run_query_rows(&env, query_parameter_rows()).await;
    env.p.stop().await;
}

fn query_parameter_rows() -> Vec<QueryRow> {
    vec![
        q(
            "a tenant parameter (the tenant comes from the token)",
            "metric=q.known&tenant=victim",
            400,
            "tenant",
        ),
        q("an unknown parameter", "metric=q.known&evil=1", 400, "evil"),
        q("start of the wrong type", "start=yesterday", 400, "start"),
        q("a negative step", "metric=q.known&step=-1", 400, "step"),
    ]
}

/// Checks one query answer: status, a JSON answer (errors included), the series count or the
/// error's words.
fn check_query(row: &QueryRow, (status, data, ctype): (u16, Value, String)) -> Result<(), String> {
    check!(
        status == row.status,
        "status {status}, want {}; answer {data}",
        row.status
    );
    check!(
        ctype.starts_with("application/json"),
        "answer is {ctype:?}, not JSON: {data}"
    );
    match row.series {
        Some(n) => {
            let got = data.as_array().map(Vec::len);
            check!(got == Some(n), "{got:?} series, want {n}: {data}");
        }
        None => {
            let e = data["error"].as_str().unwrap_or_default();
            check!(e.contains(row.msg), "error {data} lacks {:?}", row.msg);
        }
    }
    Ok(())
}

/// The bad-input table and its sentence, counted from the rows each test runs.
fn figures() -> String {
    let (ta, tf) = (Api::TransferArgus, Api::TransferFalcon);
    let push: Vec<(&str, Vec<Row>)> = vec![
        (
            "transfer `POST /api/v1/push` (Argus batch)",
            common_rows(ta).into_iter().chain(gzip_rows()).collect(),
        ),
        ("transfer `POST /v1/push` (open-falcon)", common_rows(tf)),
        (
            "transfer Content-Encoding (gzip, zstd, bombs, oversize, points cap)",
            transfer_encoding_rows(),
        ),
        (
            "agent `POST /v1/push` (open-falcon, gzip, bombs, oversize, points cap)",
            agent_rows(),
        ),
    ];
    let query = query_rows().len() + query_parameter_rows().len();
    let mut lines = vec![
        "| API | Rows | Hostile inputs (bad points or bodies) |".to_string(),
        "|---|---:|---:|".to_string(),
    ];
    let (mut push_rows, mut inputs) = (0, 0);
    for (api, rows) in &push {
        let n: usize = rows.iter().map(Row::inputs).sum();
        lines.push(format!("| {api} | {} | {} |", rows.len(), grouped(n)));
        push_rows += rows.len();
        inputs += n;
    }
    lines.push(format!("| web `GET /api/v1/query` | {query} | {query} |"));
    let total = push_rows + query;
    lines.push(format!(
        "| **total** | **{}** | **{}** |",
        grouped(total),
        grouped(inputs + query)
    ));
    lines.push(String::new());
    let sentence = format!(
        "Every row is answered as it expects, or the suite fails naming it. After each of the \
         {total} rows all four components (transfer, store, web, agent) answered `/health`; after \
         each of the {push_rows} push rows the good point sent beside the bad input (or right \
         after a refused body) was read back through the web query endpoint with its tenant, tags \
         and value."
    );
    // Wrapped at 100 columns, as the page is.
    let mut line = String::new();
    for word in sentence.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > 100 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// docs/SECURITY.md states the figures of this suite as it is: a row added or removed changes
/// them, and this test then fails with the right ones (`ARGUS_BLESS=1` writes them in).
#[test]
fn security_md_states_the_suites_figures() {
    common::figures::check("docs/SECURITY.md", "tests/hostile_input.rs", &figures());
}
