//! Matching series against a [`Selector`].

use crate::engine::KeyView;
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
        self.matches_parts(&key.endpoint, &key.metric, |k| key.tags.get(k))
    }

    /// [`Self::matches`] on a key read in place from its encoding.
    pub(crate) fn matches_view(&self, key: &KeyView<'_>) -> bool {
        self.matches_parts(key.endpoint, key.metric, |k| key.tag(k))
    }

    fn matches_parts<'k>(
        &self,
        endpoint: &str,
        metric: &str,
        tag: impl Fn(&str) -> Option<&'k str>,
    ) -> bool {
        if self.sel.endpoint.as_ref().is_some_and(|e| e != endpoint) {
            return false;
        }
        if self.sel.metric.as_ref().is_some_and(|m| m != metric) {
            return false;
        }
        self.sel.tags.iter().zip(&self.regexes).all(|(m, re)| {
            let v = tag(&m.key).unwrap_or("");
            match m.op {
                MatchOp::Eq => v == m.value,
                MatchOp::Ne => v != m.value,
                MatchOp::Regex => re.as_ref().is_some_and(|r| r.is_match(v)),
                MatchOp::NotRegex => !re.as_ref().is_some_and(|r| r.is_match(v)),
            }
        })
    }
}
