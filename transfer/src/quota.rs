//! Per-tenant quotas: points per second with a burst (token bucket), active series, tags per
//! point and batch size. Each tenant has its own bucket and series set, so one tenant past its
//! quota never slows another.

use crate::config::{Quota, QuotaConfig};
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
    /// Series hash → last seen (seconds since `epoch`).
    series: HashMap<u64, u64>,
    last_sweep: u64,
}

/// The quotas in force and every tenant's usage.
pub struct Quotas {
    cfg: RwLock<QuotaConfig>,
    tenants: Mutex<HashMap<TenantId, Arc<Mutex<TenantState>>>>,
    epoch: Instant,
}

impl Quotas {
    /// Quotas from `cfg`.
    pub fn new(cfg: QuotaConfig) -> Quotas {
        Quotas {
            cfg: RwLock::new(cfg),
            tenants: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// Replaces the configuration (reload); usage is kept.
    pub fn set(&self, cfg: QuotaConfig) {
        *self.cfg.write().expect("quota lock") = cfg;
    }

    fn quota(&self, tenant: &TenantId) -> (Quota, u64) {
        let c = self.cfg.read().expect("quota lock");
        (c.of(tenant).clone(), c.series_ttl_secs.max(1))
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
        let (q, ttl) = self.quota(tenant);
        if q.tags_per_point == 0 && q.active_series == 0 {
            return vec![None; points.len()];
        }
        let st = self.state(tenant);
        let mut s = st.lock().expect("quota lock");
        let now = self.epoch.elapsed().as_secs();
        if q.active_series > 0 && now >= s.last_sweep + ttl.min(60) {
            s.series.retain(|_, seen| now < *seen + ttl);
            s.last_sweep = now;
        }
        points
            .iter()
            .map(|p| {
                if q.tags_per_point > 0 && p.tags.len() > q.tags_per_point {
                    return Some(ValidationError::new(
                        "tags",
                        format!(
                            "has {} tags, the tenant's quota is {} per point",
                            p.tags.len(),
                            q.tags_per_point
                        ),
                    ));
                }
                if q.active_series == 0 {
                    return None;
                }
                let h = series_hash(&p.tenant, &p.endpoint, &p.metric, &p.tags);
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
                ..Default::default()
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
    fn series_and_tags_and_batch() {
        let q = Quotas::new(QuotaConfig {
            default: Quota {
                active_series: 2,
                tags_per_point: 1,
                batch_points: 3,
                ..Default::default()
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
