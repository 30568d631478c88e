//! InfluxDB line protocol, as Telegraf and the InfluxDB clients send it to `/api/v2/write`.
//!
//! `measurement,tag=v,tag2=v2 field=1.5,other=3i 1700000000000000000`
//!
//! Mapping onto Argus points (docs/INGEST.md): one point per numeric field; the metric is
//! `measurement.field` (just `measurement` for a field named `value`); endpoint and tags per
//! [`endpoint_and_tags`]. Integers, unsigned integers and floats are values, booleans 1 and 0;
//! string fields (Telegraf's `uptime_format`, `procstat`'s `cmdline`) are skipped and counted,
//! not refused, as VictoriaMetrics does: Telegraf would otherwise log an error every flush for
//! a batch whose numbers were all stored. The timestamp is truncated to seconds per
//! `precision`; a line without one gets the time of arrival. A rejection's index is the line's
//! 0-based number.

use crate::config::IngestConfig;
use argus_core::point::{CounterType, Point, Tags};
use argus_core::series::ENDPOINT_MARKER_TAG;
use argus_core::validate::{clean_endpoint_cow, clean_tag_value_cow, Rejection, ValidationError};
use argus_core::wire::{Budget, Decoded, Spend, WireError, TAG_ENTRY_BYTES};
use argus_core::TenantId;
use argus_promql::labels::ENDPOINT_LABEL;
use std::borrow::Cow;

/// The `precision` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (the default).
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl Precision {
    /// Parses `ns`, `us`, `ms`, `s` (absent: ns).
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        Ok(match s.unwrap_or("ns") {
            "ns" | "n" => Precision::Ns,
            "us" | "u" => Precision::Us,
            "ms" => Precision::Ms,
            "s" => Precision::S,
            other => return Err(format!("precision {other:?} is not ns, us, ms or s")),
        })
    }

    fn to_secs(self, t: i64) -> i64 {
        let div = match self {
            Precision::Ns => 1_000_000_000,
            Precision::Us => 1_000_000,
            Precision::Ms => 1_000,
            Precision::S => 1,
        };
        t.div_euclid(div)
    }
}

enum FieldValue {
    Num(f64),
    Str,
}

/// The byte offset of the first unescaped `sep` in `s` (outside double quotes when `quotes`).
fn find_unescaped(s: &str, sep: u8, quotes: bool) -> Option<usize> {
    let b = s.as_bytes();
    let (mut i, mut inq) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'"' if quotes => inq = !inq,
            c if c == sep && !inq => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// `s` split at its first unescaped `sep`, or `(s, None)`.
fn split_first(s: &str, sep: u8, quotes: bool) -> (&str, Option<&str>) {
    match find_unescaped(s, sep, quotes) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// The pieces of `s` between unescaped `sep`s, without collecting them (this runs for every
/// line of every push).
fn pieces(s: &str, sep: u8, quotes: bool) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let (piece, next) = split_first(rest?, sep, quotes);
        rest = next;
        Some(piece)
    })
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(&n) = it.peek() {
                if matches!(n, ',' | '=' | ' ' | '"' | '\\') {
                    out.push(n);
                    it.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

fn field_value(v: &str) -> Result<FieldValue, String> {
    if v.starts_with('"') {
        return Ok(FieldValue::Str);
    }
    let num = |s: &str| s.parse::<f64>().ok();
    let r = if let Some(i) = v.strip_suffix('i') {
        i.parse::<i64>().ok().map(|x| x as f64)
    } else if let Some(u) = v.strip_suffix('u') {
        u.parse::<u64>().ok().map(|x| x as f64)
    } else {
        match v {
            "t" | "T" | "true" | "True" | "TRUE" => Some(1.0),
            "f" | "F" | "false" | "False" | "FALSE" => Some(0.0),
            _ => num(v),
        }
    };
    r.map(FieldValue::Num)
        .ok_or_else(|| format!("{v:?} is not a number, integer or boolean"))
}

struct Line {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Result<FieldValue, String>)>,
    ts: Option<i64>,
}

/// Why a line was not read: it is refused alone, or the request is over its budget.
enum LineFault {
    Bad(ValidationError),
    Over(WireError),
}

impl From<ValidationError> for LineFault {
    fn from(e: ValidationError) -> Self {
        LineFault::Bad(e)
    }
}

impl From<WireError> for LineFault {
    fn from(e: WireError) -> Self {
        LineFault::Over(e)
    }
}

/// Parses one line. Its tags and fields are taken from `spend` as they are read (a field is a
/// point; a tag, an entry), so one huge line cannot build more than the request's budget.
fn parse_line(line: &str, spend: &mut Spend) -> Result<Line, LineFault> {
    let (key, rest) = split_first(line, b' ', true);
    let (field_set, ts) = match rest {
        Some(r) => split_first(r, b' ', true),
        None => ("", None),
    };
    if field_set.is_empty() {
        return Err(ValidationError::new("fields", "the line has no field set").into());
    }
    let mut key = pieces(key, b',', false);
    let measurement = unescape(key.next().unwrap_or(""));
    if measurement.is_empty() {
        return Err(ValidationError::new("measurement", "must not be empty").into());
    }
    let mut tags = Vec::new();
    for kv in key {
        spend.bytes(TAG_ENTRY_BYTES)?;
        match split_first(kv, b'=', false) {
            (k, Some(v)) if !k.is_empty() => tags.push((unescape(k), unescape(v))),
            _ => {
                return Err(ValidationError::new(
                    "tags",
                    format!("{kv:?} is not of the form key=value"),
                )
                .into())
            }
        }
    }
    let mut fields = Vec::with_capacity(1);
    for kv in pieces(field_set, b',', true) {
        // Each field becomes a point (or a refusal, or a skipped string).
        spend.points("points", 1)?;
        match split_first(kv, b'=', true) {
            (k, Some(v)) if !k.is_empty() => fields.push((unescape(k), field_value(v))),
            _ => {
                return Err(ValidationError::new(
                    "fields",
                    format!("{kv:?} is not of the form key=value"),
                )
                .into())
            }
        }
    }
    let ts = match ts.map(|s| s.trim()) {
        None | Some("") => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            LineFault::Bad(ValidationError::new(
                "timestamp",
                format!("{t:?} is not an integer"),
            ))
        })?),
    };
    Ok(Line {
        measurement,
        tags,
        fields,
        ts,
    })
}

/// Picks the endpoint out of `tags` per `cfg` and builds the tags. Characters the endpoint or
/// a tag value may not hold become `_` ([`argus_core::validate::clean_endpoint`]), the same
/// for every format that maps labels (line protocol, remote write). A label named `endpoint`
/// (non-empty) is always the endpoint and leaves the tags, as Argus shows it again as the label
/// `endpoint`; otherwise the first of `cfg.endpoint_tags` present is the endpoint, else
/// `cfg.default_endpoint`, and the tags keep every label plus [`ENDPOINT_MARKER_TAG`] naming
/// where the endpoint came from (the label's name, or `default`), so PromQL shows the series
/// with exactly the labels it was written with. A marker a sender wrote itself is dropped.
pub fn endpoint_and_tags(tags: Vec<(String, String)>, cfg: &IngestConfig) -> (String, Tags) {
    let tags = tags
        .into_iter()
        .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
        .collect();
    let (endpoint, tags) = endpoint_and_tags_cow(tags, cfg);
    (
        endpoint.into_owned(),
        Tags::from_pairs(
            tags.into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        ),
    )
}

/// A label or tag pair, borrowed from a request body where it needs no change.
pub(crate) type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// [`endpoint_and_tags`] over strings that may be borrowed (remote write maps labels straight
/// from the request body). The tags come back sorted by key with unique keys (a later
/// duplicate replacing an earlier one), as [`Tags`] keeps them.
pub(crate) fn endpoint_and_tags_cow<'a>(
    mut tags: Vec<Pair<'a>>,
    cfg: &IngestConfig,
) -> (Cow<'a, str>, Vec<Pair<'a>>) {
    tags.retain(|(k, _)| k != ENDPOINT_MARKER_TAG);
    for (_, v) in tags.iter_mut() {
        *v = clean_tag_value_cow(std::mem::take(v));
    }
    // `endpoint` first whatever the configured order: a series with the label endpoint=v must
    // be stored with endpoint v, which is what a PromQL selection narrows on.
    if let Some(i) = tags
        .iter()
        .position(|(k, v)| k == ENDPOINT_LABEL && !v.is_empty())
    {
        let endpoint = clean_endpoint_cow(tags.remove(i).1);
        return (endpoint, sorted_unique(tags));
    }
    let from = cfg.endpoint_tags.iter().find_map(|name| {
        tags.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| (name.clone(), clean_endpoint_cow(v.clone())))
    });
    let (marker, endpoint) = from.unwrap_or_else(|| {
        (
            "default".to_owned(),
            Cow::Owned(cfg.default_endpoint.clone()),
        )
    });
    tags.push((Cow::Borrowed(ENDPOINT_MARKER_TAG), Cow::Owned(marker)));
    (endpoint, sorted_unique(tags))
}

/// `pairs` sorted by key, a later duplicate replacing an earlier one (the rule of
/// [`Tags::from_pairs`]); kept as they are when already sorted and unique, as senders send them.
fn sorted_unique(mut pairs: Vec<Pair<'_>>) -> Vec<Pair<'_>> {
    if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
        return pairs;
    }
    // Stable: equal keys keep their order, and the last one wins below.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Pair<'_>> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 = v,
            _ => out.push((k, v)),
        }
    }
    out
}

/// Decodes a line-protocol body: good points with their line number, a rejection per bad line
/// or field.
pub fn decode(body: &str, precision: Precision, cfg: &IngestConfig, now: i64) -> Decoded {
    decode_counted(body, precision, cfg, now, Budget::UNLIMITED)
        .expect("an unlimited budget is never exceeded")
        .0
}

/// [`decode`] within `budget` (each field is a point, refused or not; a line's tags and the
/// strings copied into each of its fields' points are bytes), plus the number of string fields
/// skipped (`/metrics` counts them).
pub fn decode_counted(
    body: &str,
    precision: Precision,
    cfg: &IngestConfig,
    now: i64,
    budget: Budget,
) -> Result<(Decoded, usize), WireError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut skipped = 0;
    let mut spend = Spend::new(budget);
    for (i, line) in body.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let l = match parse_line(line.trim_end_matches('\r'), &mut spend) {
            Ok(l) => l,
            Err(LineFault::Over(e)) => return Err(e),
            Err(LineFault::Bad(e)) => {
                // A refused line is one refusal, however many fields it had.
                spend.points("points", 1)?;
                bad.push(Rejection::new(i, e));
                continue;
            }
        };
        let Line {
            mut measurement,
            tags,
            fields,
            ts,
        } = l;
        let ts = ts.map(|t| precision.to_secs(t)).unwrap_or(now);
        let (mut endpoint, mut tags) = endpoint_and_tags(tags, cfg);
        let n = fields.len();
        // Every field's point but the last copies the line's strings: counted before.
        spend.bytes(
            Budget::key_bytes(&endpoint, &measurement, &tags).saturating_mul(n.saturating_sub(1)),
        )?;
        for (j, (field, v)) in fields.into_iter().enumerate() {
            // The last field's point takes the line's strings instead of copies.
            let last = j + 1 == n;
            let value = match v {
                Ok(FieldValue::Num(x)) => x,
                Ok(FieldValue::Str) => {
                    skipped += 1;
                    continue;
                }
                Err(e) => {
                    bad.push(Rejection::new(
                        i,
                        ValidationError::new(format!("fields.{field}"), e),
                    ));
                    continue;
                }
            };
            let metric = match (field == "value", last) {
                (true, true) => std::mem::take(&mut measurement),
                (true, false) => measurement.clone(),
                (false, _) => format!("{measurement}.{field}"),
            };
            let (endpoint, tags) = if last {
                (std::mem::take(&mut endpoint), std::mem::take(&mut tags))
            } else {
                (endpoint.clone(), tags.clone())
            };
            good.push((
                i,
                Point {
                    tenant: TenantId::default(),
                    endpoint,
                    metric,
                    tags,
                    value,
                    timestamp: ts,
                    step: cfg.default_step,
                    counter_type: CounterType::Gauge,
                },
            ));
        }
    }
    Ok(((good, bad), skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegraf_lines() {
        let body = "cpu,cpu=cpu0,host=web-1 usage_idle=99.5,usage_user=0.5 1700000000000000000\n\
                    # a comment\n\
                    \n\
                    mem,host=web-1 used=123i,free=7u,ok=true,msg=\"a b, c\" 1700000001000000000\n\
                    disk\\ io,host=web\\ 2,path=/a\\,b value=3\n\
                    broken_line_without_fields\n\
                    temp,host=h value=hot 1\n";
        let ((good, bad), skipped) = decode_counted(
            body,
            Precision::Ns,
            &IngestConfig::default(),
            42,
            Budget::UNLIMITED,
        )
        .unwrap();
        // `msg` is a string: skipped and counted, not refused.
        assert_eq!(skipped, 1);
        let names: Vec<_> = good
            .iter()
            .map(|(i, p)| (*i, p.metric.as_str(), p.value))
            .collect();
        assert_eq!(
            names,
            vec![
                (0, "cpu.usage_idle", 99.5),
                (0, "cpu.usage_user", 0.5),
                (3, "mem.used", 123.0),
                (3, "mem.free", 7.0),
                (3, "mem.ok", 1.0),
                (4, "disk io", 3.0),
            ]
        );
        let p = &good[0].1;
        assert_eq!(p.endpoint, "web-1");
        assert_eq!(p.tags.get("cpu"), Some("cpu0"));
        // The endpoint came from `host`: the tag stays, and the marker says where it came from.
        assert_eq!(p.tags.get("host"), Some("web-1"));
        assert_eq!(p.tags.get(ENDPOINT_MARKER_TAG), Some("host"));
        assert_eq!(p.timestamp, 1_700_000_000);
        assert_eq!(good[2].1.timestamp, 1_700_000_001);
        // The space an endpoint may not hold became `_`; the tag keeps the value as written.
        assert_eq!(good[5].1.endpoint, "web_2");
        assert_eq!(good[5].1.tags.get("host"), Some("web 2"));
        // An escaped comma is read, then mapped as tag values cannot hold it (was refused).
        assert_eq!(good[5].1.tags.get("path"), Some("/a_b"));
        assert_eq!(good[5].1.timestamp, 42);
        let why: Vec<_> = bad.iter().map(|r| (r.index, r.field.as_str())).collect();
        assert_eq!(why, vec![(5, "fields"), (6, "fields.value")]);
    }

    #[test]
    fn precision_and_default_endpoint() {
        let (good, _) = decode(
            "m v=1 1700000000123\n",
            Precision::Ms,
            &IngestConfig::default(),
            0,
        );
        assert_eq!(good[0].1.timestamp, 1_700_000_000);
        assert_eq!(good[0].1.endpoint, "unknown");
        assert_eq!(good[0].1.tags.to_string(), "__endpoint_label__=default");
        assert_eq!(good[0].1.metric, "m.v");
        assert!(Precision::parse(Some("h")).is_err());
    }

    #[test]
    fn endpoint_label_marker() {
        let cfg = IngestConfig::default();
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        // A label named `endpoint` is the endpoint and leaves the tags: no marker.
        let (e, t) = endpoint_and_tags(pairs(&[("endpoint", "e1"), ("host", "h1")]), &cfg);
        assert_eq!((e.as_str(), t.to_string().as_str()), ("e1", "host=h1"));
        // Even when the configured list names another label first.
        let host_first = IngestConfig {
            endpoint_tags: vec!["host".into(), "endpoint".into()],
            ..IngestConfig::default()
        };
        let (e, t) = endpoint_and_tags(pairs(&[("endpoint", "e1"), ("host", "h1")]), &host_first);
        assert_eq!((e.as_str(), t.to_string().as_str()), ("e1", "host=h1"));
        // From another label: it stays a tag, and the marker names it.
        let (e, t) = endpoint_and_tags(pairs(&[("instance", "i:1"), ("job", "j")]), &cfg);
        assert_eq!(
            (e.as_str(), t.to_string().as_str()),
            ("i:1", "__endpoint_label__=instance,instance=i:1,job=j")
        );
        // None of them: the default endpoint; a sender's own marker is dropped.
        let (e, t) =
            endpoint_and_tags(pairs(&[("__endpoint_label__", "forged"), ("a", "1")]), &cfg);
        assert_eq!(
            (e.as_str(), t.to_string().as_str()),
            ("unknown", "__endpoint_label__=default,a=1")
        );
    }
}
