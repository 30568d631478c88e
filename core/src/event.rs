//! Events: the transitions of a strategy on a series, from judge to alarm to receivers.

use crate::series::SeriesKey;
use crate::strategy::{Priority, StrategyId};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable identity of an alert: tenant + strategy + series. Every PROBLEM and OK of the same
/// strategy on the same series carries the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl EventId {
    /// The id of `strategy` firing on `series` (the series names its tenant).
    pub fn of(strategy: StrategyId, series: &SeriesKey) -> Self {
        use xxhash_rust::xxh3::Xxh3;
        let mut h = Xxh3::new();
        h.update(series.tenant.as_str().as_bytes());
        h.update(&[0]);
        h.update(&strategy.to_le_bytes());
        h.update(&series.hash().to_le_bytes());
        EventId(format!("{}-{:016x}", series.tenant, h.digest()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventStatus {
    /// The condition holds.
    Problem,
    /// The condition stopped holding (recovery).
    Ok,
}

impl EventStatus {
    /// `PROBLEM` or `OK`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Problem => "PROBLEM",
            EventStatus::Ok => "OK",
        }
    }
}

/// One transition (or repeat) of an alert, as the judge emits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// tenant + strategy + series.
    pub id: EventId,
    /// The owner; alarm checks it against the sender.
    pub tenant: TenantId,
    /// PROBLEM or OK.
    pub status: EventStatus,
    /// Counts every event sent for this id (1, 2, 3, ...): with `id` and `status` it makes the
    /// idempotency key, so duplicates are recognised all the way to the receiver.
    pub occurrence: u64,
    /// The strategy that fired.
    pub strategy_id: StrategyId,
    /// The template that holds the strategy, when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<u64>,
    /// The series.
    pub series: SeriesKey,
    /// The strategy's priority.
    pub priority: Priority,
    /// The condition as written, e.g. `all(#3) > 90`.
    pub condition: String,
    /// The value that decided the transition.
    pub value: f64,
    /// The time of the point that decided it, Unix seconds.
    pub timestamp: i64,
    /// How many PROBLEM notices this alert has produced so far (1 for the first).
    #[serde(default)]
    pub alarm_count: u32,
    /// The strategy's note.
    #[serde(default)]
    pub note: String,
    /// The region of the judge that emitted it.
    #[serde(default)]
    pub region: String,
}

impl Event {
    /// The key receivers deduplicate on: `id:status:occurrence`.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}:{}", self.id, self.status.as_str(), self.occurrence)
    }
}
