//! The inverted index: per tenant, postings lists (ascending series ids) by metric, endpoint and
//! tag pair, so a selector touches only candidate series instead of scanning them all.
//!
//! Equality matchers intersect postings; a regex matcher unions the postings of the tag values it
//! matches; negative matchers filter the candidates. The final check is always
//! [`CompiledSelector::matches`], so the index only narrows and can never change an answer.

use crate::selector::CompiledSelector;
use argus_core::query::MatchOp;
use argus_core::{SeriesKey, TenantId};
use std::collections::{BTreeMap, HashMap};

/// A tenant's postings.
#[derive(Default)]
pub struct TenantIndex {
    /// Every series of the tenant.
    pub all: Vec<u32>,
    /// By metric name.
    pub metrics: BTreeMap<String, Vec<u32>>,
    /// By endpoint.
    pub endpoints: BTreeMap<String, Vec<u32>>,
    /// By tag key, then value.
    pub tags: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
}

/// The index of every tenant.
#[derive(Default)]
pub struct Index {
    tenants: HashMap<TenantId, TenantIndex>,
}

impl Index {
    /// Adds series `id` (ids are added in ascending order, keeping postings sorted).
    pub fn add(&mut self, id: u32, key: &SeriesKey) {
        let t = self.tenants.entry(key.tenant.clone()).or_default();
        t.all.push(id);
        t.metrics.entry(key.metric.clone()).or_default().push(id);
        t.endpoints
            .entry(key.endpoint.clone())
            .or_default()
            .push(id);
        for (k, v) in key.tags.iter() {
            t.tags
                .entry(k.to_string())
                .or_default()
                .entry(v.to_string())
                .or_default()
                .push(id);
        }
    }

    /// Series of `tenant`.
    pub fn cardinality(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, |t| t.all.len())
    }

    /// A tenant's postings.
    pub fn tenant(&self, tenant: &TenantId) -> Option<&TenantIndex> {
        self.tenants.get(tenant)
    }

    /// Candidate ids for `sel` within `tenant` (a superset of the matches, ascending).
    pub fn candidates(&self, tenant: &TenantId, sel: &CompiledSelector) -> Vec<u32> {
        let Some(t) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        let s = sel.selector();
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let empty = Vec::new();
        if let Some(m) = &s.metric {
            lists.push(t.metrics.get(m).unwrap_or(&empty).clone());
        }
        if let Some(e) = &s.endpoint {
            lists.push(t.endpoints.get(e).unwrap_or(&empty).clone());
        }
        for (m, re) in s.tags.iter().zip(sel.regexes()) {
            match m.op {
                MatchOp::Eq if !m.value.is_empty() => lists.push(
                    t.tags
                        .get(&m.key)
                        .and_then(|vals| vals.get(&m.value))
                        .unwrap_or(&empty)
                        .clone(),
                ),
                MatchOp::Regex => {
                    let re = re.as_ref().expect("regex compiled");
                    // A regex matching "" also selects series without the tag: no narrowing.
                    if re.is_match("") {
                        continue;
                    }
                    let mut u: Vec<u32> = t
                        .tags
                        .get(&m.key)
                        .map(|vals| {
                            vals.iter()
                                .filter(|(v, _)| re.is_match(v))
                                .flat_map(|(_, ids)| ids.iter().copied())
                                .collect()
                        })
                        .unwrap_or_default();
                    u.sort_unstable();
                    u.dedup();
                    lists.push(u);
                }
                _ => {}
            }
        }
        if lists.is_empty() {
            return t.all.clone();
        }
        lists.sort_by_key(|l| l.len());
        let mut acc = lists.swap_remove(0);
        for l in &lists {
            acc = intersect(&acc, l);
            if acc.is_empty() {
                break;
            }
        }
        acc
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
