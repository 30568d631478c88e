//! Validation of points, with errors that name the field and the reason.
//!
//! Each point is validated on its own, so a batch with some bad points keeps the good ones.

use crate::point::{Point, Tags};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Bounds a point must respect. Every component that accepts points uses the same limits,
/// configured under `[limits]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest endpoint, metric name, tag key or tag value, in bytes.
    pub max_name_len: usize,
    /// Most tags on one point.
    pub max_tags: usize,
    /// How far in the future a timestamp may be, in seconds.
    pub max_future_secs: i64,
    /// How far in the past a timestamp may be, in seconds.
    pub max_past_secs: i64,
    /// Longest step, in seconds.
    pub max_step: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_name_len: 256,
            max_tags: 32,
            max_future_secs: 600,
            max_past_secs: 15 * 86_400,
            max_step: 86_400,
        }
    }
}

/// Why a point was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The offending field, e.g. `metric` or `tags.service`.
    pub field: String,
    /// Why it was refused, in words a user can act on.
    pub reason: String,
}

impl ValidationError {
    /// Makes an error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A character an endpoint, metric or tag key may not hold.
pub(crate) const fn bad_name_char(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '%'))
}

/// A character a tag value may not hold: a control character (Unicode's Cc, as
/// `char::is_control`) or one of `, = " { }`.
const fn bad_tag_value_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | ',' | '=' | '"' | '{' | '}')
}

/// Which characters a name or a tag value may hold.
#[derive(Clone, Copy)]
enum Chars {
    /// An endpoint, metric or tag key ([`bad_name_char`]).
    Name,
    /// A tag value ([`bad_tag_value_char`]).
    TagValue,
}

/// The ASCII characters each of [`Chars`] refuses, one bit each, made at compile time from
/// the same tests: what [`find_bad`] looks bytes up in.
static ASCII_BAD: [[u64; 2]; 2] = [ascii_bad(Chars::Name), ascii_bad(Chars::TagValue)];

const fn ascii_bad(chars: Chars) -> [u64; 2] {
    let mut set = [0u64; 2];
    let mut b = 0u8;
    while b < 0x80 {
        if chars.bad(b as char) {
            set[(b >> 6) as usize] |= 1 << (b & 63);
        }
        b += 1;
    }
    set
}

impl Chars {
    const fn bad(self, c: char) -> bool {
        match self {
            Chars::Name => bad_name_char(c),
            Chars::TagValue => bad_tag_value_char(c),
        }
    }
}

/// `s` with every character an endpoint may not hold replaced by `_`. Formats that take the
/// endpoint from a label (line protocol, remote write) map rather than refuse, so a host tag
/// such as `host=server 01` still lands (as endpoint `server_01`); docs/INGEST.md.
pub fn clean_endpoint(s: String) -> String {
    clean(s.into(), Chars::Name).into_owned()
}

/// `s` with every character a tag value may not hold (`, = " { }`, controls) replaced by `_`.
pub fn clean_tag_value(s: String) -> String {
    clean(s.into(), Chars::TagValue).into_owned()
}

/// [`clean_endpoint`] of a string that may be borrowed (from a request body): borrowed still
/// when clean.
pub fn clean_endpoint_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    clean(s, Chars::Name)
}

/// [`clean_tag_value`] of a string that may be borrowed: borrowed still when clean.
pub fn clean_tag_value_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    clean(s, Chars::TagValue)
}

fn clean(s: Cow<'_, str>, chars: Chars) -> Cow<'_, str> {
    // Almost every value is clean: kept as it is, without a copy.
    if find_bad(&s, chars).is_none() {
        return s;
    }
    Cow::Owned(
        s.chars()
            .map(|c| if chars.bad(c) { '_' } else { c })
            .collect(),
    )
}

fn check_name(field: &str, s: &str, limits: &Limits, chars: Chars) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.len() > limits.max_name_len {
        return Err(ValidationError::new(
            field,
            format!(
                "is {} bytes long, the limit is {}",
                s.len(),
                limits.max_name_len
            ),
        ));
    }
    if let Some(c) = find_bad(s, chars) {
        return Err(ValidationError::new(
            field,
            format!("contains the character {c:?}, which is not allowed"),
        ));
    }
    Ok(())
}

/// The first character of `s` that `chars` refuses. Runs for every name of every point: each
/// ASCII byte is one bit looked up, the rest from the first non-ASCII byte on is checked
/// character by character.
fn find_bad(s: &str, chars: Chars) -> Option<char> {
    let set = &ASCII_BAD[chars as usize];
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if !b.is_ascii() {
            // Every byte before was ASCII: `i` starts a character.
            return s[i..].chars().find(|&c| chars.bad(c));
        }
        if set[(b >> 6) as usize] >> (b & 63) & 1 == 1 {
            return Some(char::from(b));
        }
    }
    None
}

/// Checks one point against `limits` at Unix time `now`: its series
/// ([`validate_series`]), then its sample ([`validate_sample`]).
pub fn validate_point(p: &Point, limits: &Limits, now: i64) -> Result<(), ValidationError> {
    validate_series(&p.endpoint, &p.metric, &p.tags, limits)?;
    validate_sample(p.value, p.timestamp, p.step, limits, now)
}

/// Checks the identity of a series: endpoint, metric and tags (names, lengths, characters,
/// tag count). A storage node checks this once, when a series is created.
pub fn validate_series(
    endpoint: &str,
    metric: &str,
    tags: &Tags,
    limits: &Limits,
) -> Result<(), ValidationError> {
    check_name("endpoint", endpoint, limits, Chars::Name)?;
    check_name("metric", metric, limits, Chars::Name)?;
    validate_tags(tags, limits)
}

/// Checks tags as a series may carry them (count, key characters, non-empty values without
/// `, = " { }` or control characters); also the agent's `[tags]` reported in heartbeats.
pub fn validate_tags(tags: &Tags, limits: &Limits) -> Result<(), ValidationError> {
    check_tags(tags.len(), tags.iter(), limits)
}

/// [`validate_series`] of borrowed parts (the transfer checks the agents' binary frames in
/// place, without building a point): the same checks and errors.
pub fn validate_series_of(
    endpoint: &str,
    metric: &str,
    tags: &[(&str, &str)],
    limits: &Limits,
) -> Result<(), ValidationError> {
    check_name("endpoint", endpoint, limits, Chars::Name)?;
    check_name("metric", metric, limits, Chars::Name)?;
    check_tags(tags.len(), tags.iter().copied(), limits)
}

fn check_tags<'a>(
    n: usize,
    tags: impl Iterator<Item = (&'a str, &'a str)>,
    limits: &Limits,
) -> Result<(), ValidationError> {
    if n > limits.max_tags {
        return Err(ValidationError::new(
            "tags",
            format!("has {n} tags, the limit is {}", limits.max_tags),
        ));
    }
    for (k, v) in tags {
        check_name("tags", k, limits, Chars::Name)?;
        if v.is_empty() {
            return Err(ValidationError::new(
                format!("tags.{k}"),
                "value must not be empty",
            ));
        }
        if v.len() > limits.max_name_len {
            return Err(ValidationError::new(
                format!("tags.{k}"),
                format!(
                    "value is {} bytes long, the limit is {}",
                    v.len(),
                    limits.max_name_len
                ),
            ));
        }
        if let Some(c) = find_bad(v, Chars::TagValue) {
            return Err(ValidationError::new(
                format!("tags.{k}"),
                format!("value contains {c:?}, which is not allowed"),
            ));
        }
    }
    Ok(())
}

/// Checks one sample: a finite value, a timestamp within `limits` of `now`, a step within
/// bounds.
pub fn validate_sample(
    value: f64,
    timestamp: i64,
    step: u32,
    limits: &Limits,
    now: i64,
) -> Result<(), ValidationError> {
    if !value.is_finite() {
        return Err(ValidationError::new(
            "value",
            format!("must be a finite number, got {}", value),
        ));
    }
    // Saturating: an operator may configure i64::MAX to mean "no limit".
    if timestamp > now.saturating_add(limits.max_future_secs) {
        return Err(ValidationError::new(
            "timestamp",
            format!(
                "{} is more than {} s in the future",
                timestamp, limits.max_future_secs
            ),
        ));
    }
    if timestamp < now.saturating_sub(limits.max_past_secs) {
        return Err(ValidationError::new(
            "timestamp",
            format!(
                "{} is more than {} s in the past",
                timestamp, limits.max_past_secs
            ),
        ));
    }
    if step == 0 {
        return Err(ValidationError::new("step", "must be at least 1 second"));
    }
    if step > limits.max_step {
        return Err(ValidationError::new(
            "step",
            format!("{} exceeds the limit of {} s", step, limits.max_step),
        ));
    }
    Ok(())
}

/// A point refused from a batch: its index in the batch, the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Zero-based position of the point in the batch as sent.
    pub index: usize,
    /// The offending field.
    pub field: String,
    /// Why.
    pub reason: String,
}

impl Rejection {
    /// A rejection of point `index` for `err`.
    pub fn new(index: usize, err: ValidationError) -> Self {
        Rejection {
            index,
            field: err.field,
            reason: err.reason,
        }
    }
}

/// Orders refusals by index and lists at most
/// [`MAX_LISTED_REJECTIONS`](crate::wire::stream::MAX_LISTED_REJECTIONS) of them: past that, one
/// more refusal (field `points`) says that further points were refused from its index on. A body
/// full of invalid points then gets a short answer rather than one as large as the body.
pub fn cap_rejections(mut rejected: Vec<Rejection>) -> Vec<Rejection> {
    use crate::wire::stream::MAX_LISTED_REJECTIONS as MAX;
    rejected.sort_by_key(|r| r.index);
    // The decoder may already have added its own summary line: allow for it.
    if rejected.len() > MAX + 1 {
        let dropped = rejected.len() - MAX;
        let first = rejected[MAX].index;
        rejected.truncate(MAX);
        rejected.push(Rejection {
            index: first,
            field: "points".to_string(),
            reason: format!(
                "{dropped} more refusals from this index on are not listed; only the first {MAX} are"
            ),
        });
    }
    rejected
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "point {}: {}: {}", self.index, self.field, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Tags;

    #[test]
    fn the_byte_lookup_refuses_exactly_what_the_character_tests_refuse() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let punct = matches!(c, ',' | '=' | '"' | '{' | '}');
            assert_eq!(bad_tag_value_char(c), c.is_control() || punct, "{c:?}");
            for chars in [Chars::Name, Chars::TagValue] {
                // Alone, after clean ASCII and before anything.
                let s = format!("a{c}b");
                let want = if chars.bad(c) { Some(c) } else { None };
                assert_eq!(find_bad(&s, chars), want, "{c:?}");
            }
        }
        assert_eq!(find_bad("ok-name_1:2/3@4%5.x", Chars::Name), None);
        assert_eq!(find_bad("host 01", Chars::Name), Some(' '));
        assert_eq!(find_bad("a b", Chars::TagValue), None);
        assert_eq!(find_bad("é,", Chars::TagValue), Some(','));
    }

    fn p() -> Point {
        Point::gauge(
            "host-1",
            "cpu.idle",
            Tags::parse_falcon("core=0").unwrap(),
            1.0,
            100_000_000,
        )
    }

    fn err(pt: Point) -> ValidationError {
        validate_point(&pt, &Limits::default(), 100_000_000).unwrap_err()
    }

    #[test]
    fn cleaned_names_pass_validation() {
        let e = clean_endpoint("server 01/é{x}".to_string());
        assert_eq!(e, "server_01/__x_");
        let v = clean_tag_value("a,b=c \"d\"\n".to_string());
        assert_eq!(v, "a_b_c _d__");
        let mut pt = p();
        pt.endpoint = e;
        pt.tags = Tags::from_pairs(vec![("k".to_string(), v)]);
        validate_point(&pt, &Limits::default(), 100_000_000).unwrap();
        // Clean input is returned as it is.
        assert_eq!(
            clean_endpoint("web-1.example:80".into()),
            "web-1.example:80"
        );
    }

    #[test]
    fn good_point_passes() {
        validate_point(&p(), &Limits::default(), 100_000_000).unwrap();
    }

    #[test]
    fn refusals_past_the_cap_are_summarized() {
        use crate::wire::stream::MAX_LISTED_REJECTIONS as MAX;
        let many: Vec<Rejection> = (0..MAX + 50)
            .rev()
            .map(|i| Rejection::new(i, ValidationError::new("metric", "must not be empty")))
            .collect();
        let capped = cap_rejections(many);
        assert_eq!(capped.len(), MAX + 1);
        assert_eq!(capped[0].index, 0);
        assert_eq!(capped[MAX].field, "points");
        assert_eq!(capped[MAX].index, MAX);
        assert!(
            capped[MAX].reason.starts_with("50 more"),
            "{}",
            capped[MAX].reason
        );
        let few = vec![Rejection::new(3, ValidationError::new("a", "b"))];
        assert_eq!(cap_rejections(few.clone()), few);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            err(Point {
                metric: String::new(),
                ..p()
            })
            .field,
            "metric"
        );
        assert_eq!(
            err(Point {
                endpoint: "a b".into(),
                ..p()
            })
            .field,
            "endpoint"
        );
        assert_eq!(
            err(Point {
                metric: "x".repeat(300),
                ..p()
            })
            .field,
            "metric"
        );
        assert_eq!(
            err(Point {
                value: f64::NAN,
                ..p()
            })
            .field,
            "value"
        );
        assert_eq!(
            err(Point {
                value: f64::INFINITY,
                ..p()
            })
            .field,
            "value"
        );
        assert_eq!(
            err(Point {
                timestamp: 200_000_000,
                ..p()
            })
            .field,
            "timestamp"
        );
        assert_eq!(
            err(Point {
                timestamp: 1,
                ..p()
            })
            .field,
            "timestamp"
        );
        assert_eq!(err(Point { step: 0, ..p() }).field, "step");
        let many = Tags::from_pairs((0..40).map(|i| (format!("k{i}"), "v")));
        assert_eq!(err(Point { tags: many, ..p() }).field, "tags");
        let bad = Tags::from_pairs([("svc", "a\nb")]);
        assert_eq!(err(Point { tags: bad, ..p() }).field, "tags.svc");
    }

    /// Regression (found by fuzzing): time limits of i64::MAX, meaning "no limit", overflowed
    /// `now + max_future_secs` — a panic in debug builds, every point refused in release.
    #[test]
    fn unbounded_time_limits_do_not_overflow() {
        let unbounded = Limits {
            max_future_secs: i64::MAX,
            max_past_secs: i64::MAX,
            ..Limits::default()
        };
        for ts in [-1_000_000_000_000, -1, 0, 100_000_000, i64::MAX] {
            let pt = Point {
                timestamp: ts,
                ..p()
            };
            validate_point(&pt, &unbounded, 100_000_000).unwrap();
        }
    }
}
