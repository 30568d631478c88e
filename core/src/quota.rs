//! A tenant's own quota as the platform admin sets it in the console: each figure optional, a
//! figure not set is the transfer's configured default. Web stores and checks it; transfers get
//! it with the tenant's tokens and apply it over their `[quotas]`.

use serde::{Deserialize, Serialize};

/// The largest figure taken for a count (points, series, tags): far above any real quota, low
/// enough that arithmetic on it never overflows.
pub const MAX_COUNT: u64 = 1 << 40;

/// Per-tenant quota overrides; `None` keeps the transfer's default for that figure, `0` means
/// unlimited (as in the transfer's file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaOverride {
    /// Sustained points per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_per_sec: Option<f64>,
    /// Points that may arrive at once above the sustained rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<f64>,
    /// Distinct series active at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_series: Option<u64>,
    /// Most tags on one point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags_per_point: Option<u64>,
    /// Most points in one request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_points: Option<u64>,
}

impl QuotaOverride {
    /// The first figure out of range, as (field, reason).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, v) in [
            ("points_per_sec", self.points_per_sec),
            ("burst", self.burst),
        ] {
            if let Some(v) = v {
                if !v.is_finite() || !(0.0..=MAX_COUNT as f64).contains(&v) {
                    return Err((
                        field,
                        format!("must be 0 (unlimited) to {MAX_COUNT}, got {v}"),
                    ));
                }
            }
        }
        for (field, v) in [
            ("active_series", self.active_series),
            ("tags_per_point", self.tags_per_point),
            ("batch_points", self.batch_points),
        ] {
            if let Some(v) = v {
                if v > MAX_COUNT {
                    return Err((
                        field,
                        format!("must be 0 (unlimited) to {MAX_COUNT}, got {v}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// True when no figure is set.
    pub fn is_empty(&self) -> bool {
        *self == QuotaOverride::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_out_of_range_are_named() {
        let q = QuotaOverride {
            points_per_sec: Some(f64::NAN),
            ..Default::default()
        };
        assert_eq!(q.check().unwrap_err().0, "points_per_sec");
        let q = QuotaOverride {
            burst: Some(-1.0),
            ..Default::default()
        };
        assert_eq!(q.check().unwrap_err().0, "burst");
        let q = QuotaOverride {
            batch_points: Some(MAX_COUNT + 1),
            ..Default::default()
        };
        assert_eq!(q.check().unwrap_err().0, "batch_points");
        let q = QuotaOverride {
            points_per_sec: Some(1000.0),
            active_series: Some(0),
            ..Default::default()
        };
        assert!(q.check().is_ok() && !q.is_empty());
        assert!(QuotaOverride::default().is_empty());
    }
}
