//! `label_replace` and `label_join`, with Go's regular-expression conventions.

use crate::value::Sample;
use crate::Error;
use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;

/// A valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `label_replace(v, dst, replacement, src, regex)`: where `regex` matches the whole value of
/// `src`, sets `dst` to the expanded replacement (removing it when that is empty); other
/// samples pass unchanged. Errors are Prometheus's (which reports them as execution errors).
pub(crate) fn label_replace(
    input: Vec<Sample>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<Sample>, Error> {
    let re = compile_cached(regex).ok_or_else(|| {
        Error::execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    if !is_valid_label_name(dst) {
        return Err(Error::execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    Ok(input
        .into_iter()
        .map(|s| {
            let Some(caps) = re.captures(s.labels.get(src)) else {
                return s;
            };
            let value = expand_go_template(&re, &caps, replacement);
            Sample {
                labels: s.labels.with(dst, &value),
                value: s.value,
            }
        })
        .collect())
}

/// The anchored regex for a `label_replace` pattern, or `None` when it does not compile.
/// Compiled regexes are kept per thread, since a range query calls `label_replace` with the same
/// pattern at every step.
fn compile_cached(pattern: &str) -> Option<Regex> {
    /// Beyond this many patterns the cache starts over (queries use a handful).
    const MAX_CACHED: usize = 64;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        if let Some(re) = cache.borrow().get(pattern) {
            return Some(re.clone());
        }
        let re = Regex::new(&format!("^(?:{})$", go_regex_to_rust(pattern))).ok()?;
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), re.clone());
        Some(re)
    })
}

/// `label_join(v, dst, separator, src...)`: sets `dst` to the values of the `src` labels
/// (empty for absent ones) joined by `separator`, removing it when the result is empty.
pub(crate) fn label_join(
    input: Vec<Sample>,
    dst: &str,
    separator: &str,
    srcs: &[String],
) -> Result<Vec<Sample>, Error> {
    if let Some(bad) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return Err(Error::execution(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    if !is_valid_label_name(dst) {
        return Err(Error::execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    Ok(input
        .into_iter()
        .map(|s| {
            let joined = srcs
                .iter()
                .map(|src| s.labels.get(src))
                .collect::<Vec<_>>()
                .join(separator);
            Sample {
                labels: s.labels.with(dst, &joined),
                value: s.value,
            }
        })
        .collect())
}

/// Rewrites the parts of a Go (RE2) pattern that mean something else to the `regex` crate: Go's
/// `\d \w \s` (and negations) and `\b` are ASCII-only where Rust's are Unicode-aware; Go
/// supports `\Q...\E` literal quoting; and inside a character class Go takes `[`, `&&` and `~~`
/// literally where Rust reads a nested class or a set operation.
fn go_regex_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {}
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `^` negates; a `]` right after the opening is a literal.
                let rest = chars.as_str();
                let skip = if rest.starts_with('^') { 1 } else { 0 };
                if skip == 1 {
                    out.push('^');
                }
                if rest[skip..].starts_with(']') {
                    out.push_str("\\]");
                    chars = rest[skip + 1..].chars();
                } else {
                    chars = rest[skip..].chars();
                }
                continue;
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
                continue;
            }
            '[' => {
                // `[:alpha:]` is a POSIX class in both dialects; any other `[` is literal in Go.
                let rest = chars.as_str();
                match rest.strip_prefix(':').and_then(|r| r.split_once(":]")) {
                    Some((name, after))
                        if name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'^') =>
                    {
                        out.push_str("[:");
                        out.push_str(name);
                        out.push_str(":]");
                        chars = after.chars();
                    }
                    _ => out.push_str("\\["),
                }
                continue;
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        }
        let Some(e) = chars.next() else {
            // A trailing backslash: left for the compiler to reject.
            out.push('\\');
            break;
        };
        match e {
            'd' => out.push_str("[0-9]"),
            'D' => out.push_str("[^0-9]"),
            'w' => out.push_str("[0-9A-Za-z_]"),
            'W' => out.push_str("[^0-9A-Za-z_]"),
            's' => out.push_str(r"[\t\n\x0C\r ]"),
            'S' => out.push_str(r"[^\t\n\x0C\r ]"),
            'b' if !in_class => out.push_str(r"(?-u:\b)"),
            'Q' => {
                let rest = chars.as_str();
                let (literal, after) = rest.split_once(r"\E").unwrap_or((rest, ""));
                out.push_str(&regex::escape(literal));
                chars = after.chars();
            }
            _ => {
                out.push('\\');
                out.push(e);
            }
        }
    }
    out
}

/// Expands `template` as Go's `Regexp.ExpandString` does: `$$` is a dollar; `$name` or
/// `${name}` names a group by number or by name (the longest run of letters, digits and `_`,
/// so `$1x` is the group named `1x`); numbers with leading zeros are names; unknown or
/// unmatched groups expand to nothing; a malformed reference is kept as text.
fn expand_go_template(re: &Regex, caps: &regex::Captures<'_>, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_group_ref(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let group = match go_group_number(name) {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

/// Splits a group reference (what follows a `$`) into the name and the remaining text.
fn extract_group_ref(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    // Go accepts Unicode letters and digits here.
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let after = body[end..].strip_prefix('}')?;
        Some((name, after))
    } else {
        Some((name, &body[end..]))
    }
}

/// A group reference that is a group number: ASCII digits, no leading zero, below 10^8 (Go
/// stops parsing there and treats the rest as a name).
fn go_group_number(name: &str) -> Option<usize> {
    if (name.len() > 1 && name.starts_with('0')) || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}
