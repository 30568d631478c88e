//! Matching series against a [`Selector`].

use argus_core::query::{MatchOp, Selector};
use argus_core::SeriesKey;
use regex::Regex;

/// A selector made ready to match: regexes compiled once.
pub struct CompiledSelector {
    sel: Selector,
    regexes: Vec<Option<Regex>>,
}

impl CompiledSelector {
    /// Compiles `sel`; a bad regex is an error naming the tag key.
    pub fn new(sel: &Selector) -> Result<Self, String> {
        let mut regexes = Vec::with_capacity(sel.tags.len());
        for m in &sel.tags {
            regexes.push(match m.op {
                MatchOp::Regex | MatchOp::NotRegex => Some(
                    Regex::new(&format!("^(?:{})$", m.value))
                        .map_err(|e| format!("tags.{}: invalid regex: {e}", m.key))?,
                ),
                _ => None,
            });
        }
        Ok(CompiledSelector {
            sel: sel.clone(),
            regexes,
        })
    }

    /// The selector.
    pub fn selector(&self) -> &Selector {
        &self.sel
    }

    /// The compiled regex of each tag matcher (`None` for non-regex matchers).
    pub fn regexes(&self) -> &[Option<Regex>] {
        &self.regexes
    }

    /// True when `key` is selected (the tenant is checked by the caller).
    pub fn matches(&self, key: &SeriesKey) -> bool {
        if let Some(e) = &self.sel.endpoint {
            if &key.endpoint != e {
                return false;
            }
        }
        if let Some(m) = &self.sel.metric {
            if &key.metric != m {
                return false;
            }
        }
        self.sel.tags.iter().zip(&self.regexes).all(|(m, re)| {
            let v = key.tags.get(&m.key).unwrap_or("");
            match m.op {
                MatchOp::Eq => v == m.value,
                MatchOp::Ne => v != m.value,
                MatchOp::Regex => re.as_ref().is_some_and(|r| r.is_match(v)),
                MatchOp::NotRegex => !re.as_ref().is_some_and(|r| r.is_match(v)),
            }
        })
    }
}
