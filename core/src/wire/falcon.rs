//! The open-falcon push format, as falcon-agent's `/v1/push` takes it:
//! a JSON array of `{endpoint, metric, timestamp, step, value, counterType, tags: "k=v,k2=v2"}`.
//!
//! Scripts written for falcon-agent work unchanged. `value` may be a number or a numeric string,
//! as falcon accepts; `endpoint` may be omitted when the receiver has a default (the agent uses
//! its host name).

use super::batch::from_value_at;
use super::WireError;
use crate::point::{CounterType, Point, Tags};
use crate::tenant::TenantId;
use serde::de::Error as _;
use serde::{Deserialize, Serialize};

/// One point in the open-falcon format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalconPoint {
    /// The host; may be empty when the receiver supplies a default.
    #[serde(default)]
    pub endpoint: String,
    /// The metric name.
    pub metric: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// The step in seconds.
    #[serde(default = "crate::point::default_step")]
    pub step: u32,
    /// The value: a number or a numeric string.
    pub value: serde_json::Value,
    /// `GAUGE`, `COUNTER` or `DERIVE`.
    #[serde(default = "gauge", rename = "counterType")]
    pub counter_type: String,
    /// `k=v,k2=v2`.
    #[serde(default)]
    pub tags: String,
}

fn gauge() -> String {
    "GAUGE".to_string()
}

impl FalconPoint {
    /// Converts to an Argus point, with `default_endpoint` where the endpoint is empty.
    pub fn into_point(self, default_endpoint: &str) -> Result<Point, serde_json::Error> {
        let value = match &self.value {
            serde_json::Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| serde_json::Error::custom("invalid `value`"))?,
            serde_json::Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| serde_json::Error::custom(format!("`value` {s:?} is not a number")))?,
            other => {
                return Err(serde_json::Error::custom(format!(
                    "`value` must be a number, got {other}"
                )))
            }
        };
        let counter_type = CounterType::parse(&self.counter_type).ok_or_else(|| {
            serde_json::Error::custom(format!(
                "`counterType` {:?} is not GAUGE, COUNTER or DERIVE",
                self.counter_type
            ))
        })?;
        let tags = Tags::parse_falcon(&self.tags)
            .map_err(|e| serde_json::Error::custom(format!("`tags` {e}")))?;
        let endpoint = if self.endpoint.is_empty() {
            default_endpoint.to_string()
        } else {
            self.endpoint
        };
        Ok(Point {
            tenant: TenantId::default(),
            endpoint,
            metric: self.metric,
            tags,
            value,
            timestamp: self.timestamp,
            step: self.step,
            counter_type,
        })
    }

    /// The falcon form of an Argus point.
    pub fn from_point(p: &Point) -> Self {
        FalconPoint {
            endpoint: p.endpoint.clone(),
            metric: p.metric.clone(),
            timestamp: p.timestamp,
            step: p.step,
            value: serde_json::json!(p.value),
            counter_type: p.counter_type.as_str().to_string(),
            tags: p.tags.to_string(),
        }
    }
}

/// Decodes a falcon push body leniently: good points with their index, a rejection for each bad
/// one. A single object (not an array) is accepted as a batch of one.
pub fn decode(json: &[u8], default_endpoint: &str) -> Result<super::Decoded, WireError> {
    decode_at_most(json, default_endpoint, usize::MAX)
}

/// [`decode`], refusing a body of more than `max` points with [`WireError::TooMany`] as soon
/// as the parser reaches point `max + 1`.
pub fn decode_at_most(
    json: &[u8],
    default_endpoint: &str,
    max: usize,
) -> Result<super::Decoded, WireError> {
    super::stream::falcon(json, max, |v| {
        from_value_at::<FalconPoint>(v)?.into_point(default_endpoint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_falcon_scripts_output() {
        let body = br#"[
          {"endpoint":"web-1","metric":"qps","timestamp":100,"step":60,"value":12.5,"counterType":"GAUGE","tags":"idc=bj,svc=api"},
          {"metric":"errors","timestamp":100,"step":60,"value":"3","counterType":"COUNTER","tags":""},
          {"endpoint":"web-1","timestamp":100,"value":1},
          {"endpoint":"web-1","metric":"x","timestamp":100,"value":1,"counterType":"WEIRD"}
        ]"#;
        let (good, bad) = decode(body, "myhost").unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].1.tags.get("svc"), Some("api"));
        assert_eq!(good[0].1.step, 60);
        assert_eq!(good[1].1.endpoint, "myhost");
        assert_eq!(good[1].1.value, 3.0);
        assert_eq!(good[1].1.counter_type, CounterType::Counter);
        assert_eq!(bad.len(), 2);
        assert_eq!((bad[0].index, bad[0].field.as_str()), (2, "metric"));
        assert_eq!((bad[1].index, bad[1].field.as_str()), (3, "counterType"));
    }

    #[test]
    fn hostile_values_are_refused_by_field() {
        let body = br#"[
          {"metric":"m","timestamp":"now","value":1},
          {"metric":"m","timestamp":1,"value":[1]},
          {"metric":"m","timestamp":1,"value":1,"tags":"a=1,novalue"},
          {"metric":"m","timestamp":1,"value":1,"step":1e3}
        ]"#;
        let (good, bad) = decode(body, "h").unwrap();
        assert!(good.is_empty());
        let fields: Vec<&str> = bad.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["timestamp", "value", "tags", "step"]);
        // Non-finite numeric strings decode; validation refuses them by field.
        let (good, _) = decode(br#"[{"metric":"m","timestamp":1,"value":"NaN"},{"metric":"m","timestamp":1,"value":"-inf"}]"#, "h").unwrap();
        assert!(good.iter().all(|(_, p)| !p.value.is_finite()));
    }

    #[test]
    fn round_trip() {
        let p = Point::gauge("h", "m", Tags::parse_falcon("a=1").unwrap(), 2.0, 7);
        let f = FalconPoint::from_point(&p);
        assert_eq!(f.into_point("x").unwrap(), p);
    }
}
