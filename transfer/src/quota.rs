//! Per-tenant quotas: points per second with a burst (token bucket), active series, tags per
//! point and batch size. Each tenant has its own bucket and series set, so one tenant past its
//! quota never slows another. A tenant's quota is the file's (`[quotas]`), with the figures the
//! platform admin set for it in the console in their place.
//!
//! A tenant whose bucket is empty is refused from the request's head ([`Quotas::check_head`]),
//! before its body is read or decoded: a tenant flooding past its quota costs the transfer a
//! header check per request, not the decoding, so the others' pushes keep their pace.

use crate::config::{Quota, QuotaConfig};
use crate::tokens::QuotaOverrides;
use argus_core::series::series_hash;
use argus_core::validate::ValidationError;
use argus_core::{Point, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Why a whole request is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Over the points-per-second quota: retry after this many seconds.
    Rate {
        /// Seconds until enough tokens have accrued.
        retry_after: u64,
        /// The quota.
        per_sec: f64,
    },
    /// More points in one request than allowed.
    Batch {
        /// Points in the request.
        points: usize,
        /// The limit.
        limit: usize,
    },
}

#[derive(Default)]
struct TenantState {
    tokens: f64,
    last: Option<Instant>,
    /// After a request refused for its rate: until when the tokens it needed come back. Its
    /// next requests are refused from their head until then.
    blocked_until: Option<Instant>,
    /// Series hash → last seen (seconds since `epoch`).
    series: HashMap<u64, u64>,
    last_sweep: u64,
}

/// The quotas in force and every tenant's usage.
pub struct Quotas {
    cfg: RwLock<QuotaConfig>,
    center: QuotaOverrides,
    tenants: Mutex<HashMap<TenantId, Arc<Mutex<TenantState>>>>,
    epoch: Instant,
}

impl Quotas {
    /// Quotas from `cfg`.
    pub fn new(cfg: QuotaConfig) -> Quotas {
        Quotas {
            cfg: RwLock::new(cfg),
            center: QuotaOverrides::default(),
            tenants: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// Takes each tenant's console quota from `center` (kept current by the token poll).
    pub fn with_center(mut self, center: QuotaOverrides) -> Quotas {
        self.center = center;
        self
    }

    /// Replaces the configuration (reload); usage is kept.
    pub fn set(&self, cfg: QuotaConfig) {
        *self.cfg.write().expect("quota lock") = cfg;
    }

    fn quota(&self, tenant: &TenantId) -> (Quota, u64) {
        let c = self.cfg.read().expect("quota lock");
        let q = c.of(tenant).clone();
        let q = match self.center.read().expect("quota lock").get(tenant) {
            Some(o) => q.overridden(o),
            None => q,
        };
        (q, c.series_ttl_secs.max(1))
    }

    /// Refuses a request of `tenant` from its head when the tenant's bucket is empty or its last
    /// request was refused for its rate and the tokens it needed have not come back yet. Takes
    /// nothing: the request, once read, is charged by [`Quotas::admit_request`].
    pub fn check_head(&self, tenant: &TenantId) -> Result<(), Refusal> {
        let (q, _) = self.quota(tenant);
        if q.points_per_sec <= 0.0 {
            return Ok(());
        }
        let Some(st) = self
            .tenants
            .lock()
            .expect("quota lock")
            .get(tenant)
            .cloned()
        else {
            return Ok(());
        };
        let s = st.lock().expect("quota lock");
        let Some(last) = s.last else {
            return Ok(());
        };
        let now = Instant::now();
        let tokens = s.tokens + now.duration_since(last).as_secs_f64() * q.points_per_sec;
        let wait = match s.blocked_until {
            Some(until) if until > now => until.duration_since(now).as_secs_f64(),
            _ if tokens < 1.0 => (1.0 - tokens) / q.points_per_sec,
            _ => return Ok(()),
        };
        Err(Refusal::Rate {
            retry_after: wait.ceil().max(1.0) as u64,
            per_sec: q.points_per_sec,
        })
    }

    fn state(&self, tenant: &TenantId) -> Arc<Mutex<TenantState>> {
        self.tenants
            .lock()
            .expect("quota lock")
            .entry(tenant.clone())
            .or_default()
            .clone()
    }

    /// `tenant`'s quota of points in one request (0: none).
    pub fn batch_points(&self, tenant: &TenantId) -> usize {
        self.quota(tenant).0.batch_points
    }

    /// Admits a request of `points` points for `tenant`, or says why not. Takes the points
    /// from the tenant's bucket when admitted.
    pub fn admit_request(&self, tenant: &TenantId, points: usize) -> Result<(), Refusal> {
        let (q, _) = self.quota(tenant);
        if q.batch_points > 0 && points > q.batch_points {
            return Err(Refusal::Batch {
                points,
                limit: q.batch_points,
            });
        }
        if q.points_per_sec <= 0.0 || points == 0 {
            return Ok(());
        }
        let burst = if q.burst > 0.0 {
            q.burst
        } else {
            q.points_per_sec
        };
        let st = self.state(tenant);
        let mut s = st.lock().expect("quota lock");
        let now = Instant::now();
        s.tokens = match s.last {
            None => burst,
            Some(t) => {
                (s.tokens + now.duration_since(t).as_secs_f64() * q.points_per_sec).min(burst)
            }
        };
        s.last = Some(now);
        let n = points as f64;
        // A request larger than the burst passes when the bucket is full (it then owes).
        if s.tokens >= n || s.tokens >= burst {
            s.tokens -= n;
            return Ok(());
        }
        let missing = n.min(burst) - s.tokens;
        s.blocked_until =
            Some(now + std::time::Duration::from_secs_f64(missing / q.points_per_sec));
        Err(Refusal::Rate {
            retry_after: (missing / q.points_per_sec).ceil().max(1.0) as u64,
            per_sec: q.points_per_sec,
        })
    }

    /// Checks one point's tags and series against `tenant`'s quota; a point of a new series
    /// past the active-series quota is refused.
    pub fn admit_points(
        &self,
        tenant: &TenantId,
        points: &[Point],
    ) -> Vec<Option<ValidationError>> {
        self.admit(
            tenant,
            points.len(),
            points.iter().map(|p| {
                let hash = || series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
                (p.tags.len(), hash)
            }),
        )
    }

    /// [`Self::admit_points`] for points given by their tag count and series hash (the
    /// agents' binary frames, checked without building points).
    pub fn admit_series(
        &self,
        tenant: &TenantId,
        series: impl ExactSizeIterator<Item = (usize, u64)>,
    ) -> Vec<Option<ValidationError>> {
        self.admit(
            tenant,
            series.len(),
            series.map(|(tags, h)| (tags, move || h)),
        )
    }

    /// Each point given by its tag count and its series hash (computed only when the
    /// active-series quota needs it).
    fn admit<H: FnOnce() -> u64>(
        &self,
        tenant: &TenantId,
        n: usize,
        points: impl Iterator<Item = (usize, H)>,
    ) -> Vec<Option<ValidationError>> {
        let (q, ttl) = self.quota(tenant);
        if q.tags_per_point == 0 && q.active_series == 0 {
            return vec![None; n];
        }
        let st = self.state(tenant);
        let mut s = st.lock().expect("quota lock");
        let now = self.epoch.elapsed().as_secs();
        if q.active_series > 0 && now >= s.last_sweep + ttl.min(60) {
            s.series.retain(|_, seen| now < *seen + ttl);
            s.last_sweep = now;
        }
        points
            .map(|(tags, hash)| {
                if q.tags_per_point > 0 && tags > q.tags_per_point {
                    return Some(ValidationError::new(
                        "tags",
                        format!(
                            "has {tags} tags, the tenant's quota is {} per point",
                            q.tags_per_point
                        ),
                    ));
                }
                if q.active_series == 0 {
                    return None;
                }
                let h = hash();
                let len = s.series.len();
                match s.series.get_mut(&h) {
                    Some(seen) => {
                        *seen = now;
                        None
                    }
                    None if len < q.active_series => {
                        s.series.insert(h, now);
                        None
                    }
                    None => Some(ValidationError::new(
                        "series",
                        format!(
                            "new series refused: the tenant has {len} active series, its quota is {}",
                            q.active_series
                        ),
                    )),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::Tags;

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    #[test]
    fn rate_is_per_tenant_with_burst() {
        let q = Quotas::new(QuotaConfig {
            default: Quota {
                points_per_sec: 1.0,
                burst: 10.0,
                ..Quota::unlimited()
            },
            ..Default::default()
        });
        q.admit_request(&t("a"), 10).unwrap();
        match q.admit_request(&t("a"), 5) {
            Err(Refusal::Rate { retry_after, .. }) => assert!(retry_after >= 4, "{retry_after}"),
            other => panic!("{other:?}"),
        }
        q.admit_request(&t("b"), 10).unwrap();
    }

    #[test]
    fn an_empty_bucket_is_refused_from_the_head_and_the_console_quota_wins() {
        let center = QuotaOverrides::default();
        let q = Quotas::new(QuotaConfig {
            default: Quota {
                points_per_sec: 1.0,
                burst: 10.0,
                ..Quota::unlimited()
            },
            ..Default::default()
        })
        .with_center(center.clone());
        // Nothing pushed yet: nothing to refuse.
        q.check_head(&t("a")).unwrap();
        q.admit_request(&t("a"), 10).unwrap();
        assert!(matches!(q.check_head(&t("a")), Err(Refusal::Rate { .. })));
        // Another tenant is not touched by a's debt.
        q.check_head(&t("b")).unwrap();
        // The console lifts a's rate: its head passes again.
        center.write().unwrap().insert(
            t("a"),
            argus_core::quota::QuotaOverride {
                points_per_sec: Some(0.0),
                ..Default::default()
            },
        );
        q.check_head(&t("a")).unwrap();
        q.admit_request(&t("a"), 1_000).unwrap();
    }

    #[test]
    fn defaults_bound_every_tenant() {
        let q = Quotas::new(QuotaConfig::default());
        assert!(matches!(
            q.admit_request(&t("a"), 100_001),
            Err(Refusal::Batch { limit: 100_000, .. })
        ));
        for _ in 0..10 {
            q.admit_request(&t("a"), 100_000).unwrap();
        }
        // A million points at once is the burst; the next request must wait.
        assert!(matches!(
            q.admit_request(&t("a"), 100_000),
            Err(Refusal::Rate { .. })
        ));
        assert!(q.check_head(&t("a")).is_err());
    }

    #[test]
    fn series_and_tags_and_batch() {
        let q = Quotas::new(QuotaConfig {
            default: Quota {
                active_series: 2,
                tags_per_point: 1,
                batch_points: 3,
                ..Quota::unlimited()
            },
            ..Default::default()
        });
        assert!(matches!(
            q.admit_request(&t("a"), 4),
            Err(Refusal::Batch { limit: 3, .. })
        ));
        let mk = |m: &str, tags: Tags| {
            let mut p = Point::gauge("h", m, tags, 1.0, 1);
            p.tenant = t("a");
            p
        };
        let pts = vec![
            mk("a", Tags::new()),
            mk("b", Tags::new()),
            mk("a", Tags::new()),
            mk("c", Tags::new()),
            mk("d", Tags::from_pairs([("x", "1"), ("y", "2")])),
        ];
        let r = q.admit_points(&t("a"), &pts);
        assert!(r[0].is_none() && r[1].is_none() && r[2].is_none());
        assert_eq!(r[3].as_ref().unwrap().field, "series");
        assert_eq!(r[4].as_ref().unwrap().field, "tags");
    }
}
