//! Answers and errors in the Prometheus HTTP API's JSON shapes (Prometheus 2.x): timestamps as
//! float seconds written from milliseconds without rounding, values as strings in Go's shortest
//! form (`"NaN"`, `"+Inf"`, `"-Inf"`), label sets as objects sorted by name.
//!
//! The JSON is written directly rather than through a value tree: a range answer can hold
//! millions of points.

use crate::value::{Labels, Sample, Series, Value};
use crate::{Answer, Error, ErrorKind};
use std::fmt::Write;

/// `{"status":"success","data":<data>}` around already encoded `data`, with `warnings` when
/// there are any.
pub fn success(data: &str, warnings: &[String]) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str(r#"{"status":"success","data":"#);
    out.push_str(data);
    if !warnings.is_empty() {
        out.push_str(r#","warnings":"#);
        out.push_str(&serde_json::to_string(warnings).expect("strings encode"));
    }
    out.push('}');
    out
}

/// The body of a query answer: `{"status":"success","data":{"resultType":..,"result":..}}`.
/// `eval_ms` is the evaluation time of an instant answer (its samples and scalar carry it).
pub fn answer(answer: &Answer, eval_ms: i64, warnings: &[String]) -> String {
    success(&answer_data(answer, eval_ms, &[]), warnings)
}

/// The `data` of a query answer alone: `{"resultType":..,"result":..}`, with `"warnings"` in it
/// when there are any (for callers that take the data without the envelope).
pub fn answer_data(answer: &Answer, eval_ms: i64, warnings: &[String]) -> String {
    let mut data = String::new();
    let (kind, result) = match answer {
        Answer::Range(series) => ("matrix", matrix(series)),
        Answer::Instant(v) => (v.type_name(), value(v, eval_ms)),
    };
    let _ = write!(data, r#"{{"resultType":"{kind}","result":{result}"#);
    if !warnings.is_empty() {
        data.push_str(r#","warnings":"#);
        data.push_str(&serde_json::to_string(warnings).expect("strings encode"));
    }
    data.push('}');
    data
}

/// The HTTP status of an error of `kind` (as Prometheus answers it).
pub fn status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::BadData => 400,
        ErrorKind::Execution => 422,
        ErrorKind::Timeout => 503,
    }
}

/// Prometheus's `errorType` of `kind`.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadData => "bad_data",
        ErrorKind::Execution => "execution",
        ErrorKind::Timeout => "timeout",
    }
}

/// The body of `e`: `{"status":"error","errorType":..,"error":..}`.
pub fn error(e: &Error) -> String {
    failure(error_type(e.kind), &e.message)
}

/// An error body of any `error_type` (also `unavailable` and `internal`, which the engine does
/// not raise).
pub fn failure(error_type: &str, message: &str) -> String {
    format!(
        r#"{{"status":"error","errorType":{},"error":{}}}"#,
        quote(error_type),
        quote(message)
    )
}

/// A JSON array of label sets (`/api/v1/series`).
pub fn label_sets(sets: &[Labels]) -> String {
    let mut out = String::from("[");
    for (i, l) in sets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        labels(&mut out, l);
    }
    out.push(']');
    out
}

/// A JSON array of strings (`/api/v1/labels`, `/api/v1/label/<name>/values`).
pub fn strings(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings encode")
}

/// A JSON string (`/api/v1/format_query`'s data).
pub fn string(s: &str) -> String {
    quote(s)
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string encodes")
}

fn value(v: &Value, t_ms: i64) -> String {
    let mut out = String::new();
    match v {
        // Prometheus 2.x writes a scalar's and a string's time as a float division, unlike a
        // sample's: `1000.5`, not `1000.500`.
        Value::Scalar(x) => {
            let _ = write!(out, "[{},\"{}\"]", t_ms as f64 / 1000.0, format_value(*x));
        }
        Value::String(s) => {
            let _ = write!(out, "[{},{}]", t_ms as f64 / 1000.0, quote(s));
        }
        Value::Vector(samples) => vector(&mut out, samples, t_ms),
        Value::Matrix(series) => out = matrix(series),
    }
    out
}

fn vector(out: &mut String, samples: &[Sample], t_ms: i64) {
    out.push('[');
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        labels(out, &s.labels);
        out.push_str(r#","value":"#);
        point(out, t_ms, s.value);
        out.push('}');
    }
    out.push(']');
}

fn matrix(series: &[Series]) -> String {
    let n: usize = series.iter().map(|s| 64 + s.points.len() * 24).sum();
    let mut out = String::with_capacity(n + 2);
    out.push('[');
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        labels(&mut out, &s.labels);
        out.push_str(r#","values":["#);
        for (j, &(t, v)) in s.points.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            point(&mut out, t, v);
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

fn labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, (k, v)) in l.pairs().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote(k));
        out.push(':');
        out.push_str(&quote(v));
    }
    out.push('}');
}

/// `[<seconds>,"<value>"]`.
fn point(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    timestamp(out, t_ms);
    out.push_str(",\"");
    out.push_str(&format_value(v));
    out.push_str("\"]");
}

/// Milliseconds as seconds with up to three decimals, as Prometheus writes them (`1.5` is
/// `1.500`, whole seconds have none).
fn timestamp(out: &mut String, t_ms: i64) {
    let (sign, t) = if t_ms < 0 { ("-", -t_ms) } else { ("", t_ms) };
    let (s, frac) = (t / 1000, t % 1000);
    if frac == 0 {
        let _ = write!(out, "{sign}{s}");
    } else {
        let _ = write!(out, "{sign}{s}.{frac:03}");
    }
}

/// A sample value as Prometheus writes it: Go's `FormatFloat(v, 'f', -1, 64)` (shortest
/// round-trip digits, never an exponent; Rust's `Display` is the same), or `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// A value written by [`format_value`], read back.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn values_and_timestamps_as_prometheus_writes_them() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1e-7), "0.0000001");
        assert_eq!(format_value(-0.0), "-0");
        let ts = |ms| {
            let mut s = String::new();
            timestamp(&mut s, ms);
            s
        };
        assert_eq!(ts(1_700_000_000_000), "1700000000");
        assert_eq!(ts(1_700_000_000_500), "1700000000.500");
        assert_eq!(ts(1_700_000_000_005), "1700000000.005");
        assert_eq!(ts(-1_500), "-1.500");
    }

    #[test]
    fn answers() {
        let v = Answer::Instant(Value::Vector(vec![Sample {
            labels: l(&[("job", "a\"b"), ("__name__", "up")]),
            value: 1.0,
        }]));
        assert_eq!(
            answer(&v, 1_000_500, &[]),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1000.500,"1"]}]}}"#
        );
        let s = Answer::Instant(Value::Scalar(f64::NAN));
        assert_eq!(
            answer(&s, 2_000, &["region x did not answer".into()]),
            r#"{"status":"success","data":{"resultType":"scalar","result":[2,"NaN"]},"warnings":["region x did not answer"]}"#
        );
        assert_eq!(
            answer(&Answer::Instant(Value::Scalar(2.0)), 1_000_500, &[]),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1000.5,"2"]}}"#
        );
        let st = Answer::Instant(Value::String("hi".into()));
        assert_eq!(
            answer(&st, 2_000, &[]),
            r#"{"status":"success","data":{"resultType":"string","result":[2,"hi"]}}"#
        );
        let r = Answer::Range(vec![Series {
            labels: l(&[("a", "1")]),
            points: vec![(1_000, 1.5), (2_000, f64::NEG_INFINITY)],
        }]);
        assert_eq!(
            answer(&r, 0, &[]),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"1.5"],[2,"-Inf"]]}]}}"#
        );
        let empty = Answer::Range(vec![]);
        assert_eq!(
            answer(&empty, 0, &[]),
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
        );
        // The JSON parses.
        let _: serde_json::Value = serde_json::from_str(&answer(&r, 0, &[])).unwrap();
    }

    #[test]
    fn errors_and_listings() {
        let e = Error::bad_data("1:1: parse error: unexpected \"}\"");
        assert_eq!(
            error(&e),
            r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected \"}\""}"#
        );
        assert_eq!(status(e.kind), 400);
        assert_eq!(status(ErrorKind::Execution), 422);
        assert_eq!(status(ErrorKind::Timeout), 503);
        assert_eq!(
            failure("unavailable", "x"),
            r#"{"status":"error","errorType":"unavailable","error":"x"}"#
        );
        assert_eq!(
            success(&label_sets(&[l(&[("__name__", "up"), ("a", "1")])]), &[]),
            r#"{"status":"success","data":[{"__name__":"up","a":"1"}]}"#
        );
        assert_eq!(strings(&["a".into(), "b".into()]), r#"["a","b"]"#);
    }
}
