//! Consistent hashing with virtual nodes: which storage nodes hold a series (by
//! [`crate::series::series_hash`]), which judge evaluates an endpoint (by
//! [`crate::series::endpoint_hash`]). Transfers route with it; judges compute it too, to tell
//! which hosts they watch for liveness.
//!
//! Each member is placed on a 64-bit ring at `vnodes` points (xxh3 of `member#i`). A key
//! belongs to the first member clockwise from its hash,
//! and its replicas to the next distinct members. Adding or removing a member therefore moves
//! only the series whose arc it gains or loses — about `1/n` of them — and virtual nodes keep
//! every member's share close to fair.

use xxhash_rust::xxh3::xxh3_64;

/// A hash ring over named members (downstream base URLs).
#[derive(Debug, Clone, Default)]
pub struct Ring {
    /// (position, member index), sorted by position.
    points: Vec<(u64, u32)>,
    members: Vec<String>,
}

impl Ring {
    /// A ring over `members` with `vnodes` virtual nodes each. Duplicate members count once.
    pub fn new(members: &[String], vnodes: usize) -> Self {
        let mut uniq: Vec<String> = Vec::with_capacity(members.len());
        for m in members {
            let m = normalize(m);
            if !uniq.contains(&m) {
                uniq.push(m);
            }
        }
        let mut points = Vec::with_capacity(uniq.len() * vnodes);
        for (i, m) in uniq.iter().enumerate() {
            for v in 0..vnodes.max(1) {
                let pos = xxh3_64(format!("{m}#{v}").as_bytes());
                points.push((pos, i as u32));
            }
        }
        points.sort_unstable();
        Ring {
            points,
            members: uniq,
        }
    }

    /// The members, in configuration order.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// True when the ring has no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The index (into [`members`](Self::members)) of the owner of `hash`.
    pub fn owner(&self, hash: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let i = self.start(hash);
        Some(self.points[i].1 as usize)
    }

    /// Up to `n` distinct members for `hash`, the owner first; written into `out` (cleared).
    pub fn replicas_into(&self, hash: u64, n: usize, out: &mut Vec<usize>) {
        out.clear();
        if self.points.is_empty() {
            return;
        }
        // One member owns everything: no search.
        if self.members.len() == 1 && n > 0 {
            out.push(0);
            return;
        }
        let n = n.min(self.members.len());
        let mut i = self.start(hash);
        while out.len() < n {
            let m = self.points[i].1 as usize;
            if !out.contains(&m) {
                out.push(m);
            }
            i = (i + 1) % self.points.len();
        }
    }

    /// Up to `n` distinct members for `hash`, the owner first.
    pub fn replicas(&self, hash: u64, n: usize) -> Vec<usize> {
        let mut v = Vec::with_capacity(n);
        self.replicas_into(hash, n, &mut v);
        v
    }

    fn start(&self, hash: u64) -> usize {
        match self.points.binary_search_by(|(p, _)| p.cmp(&hash)) {
            Ok(i) => i,
            Err(i) if i == self.points.len() => 0,
            Err(i) => i,
        }
    }
}

/// What a transfer tells each judge of its region (`POST /internal/v1/ring`): the ring it routes
/// endpoints by, and which member the receiving judge is. Judges hand the state of endpoints
/// they no longer own to their new owner, and watch for liveness the hosts they own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JudgeRing {
    /// The judges, as the transfer's `judges` lists them.
    pub members: Vec<String>,
    /// Virtual nodes per member (the transfer's `vnodes`).
    pub vnodes: usize,
    /// The receiving judge's URL among `members`.
    pub this: String,
}

impl JudgeRing {
    /// The ring, and the index of `this` in it (`None` when it is not a member).
    pub fn build(&self) -> (Ring, Option<usize>) {
        let ring = Ring::new(&self.members, self.vnodes);
        let me = normalize(&self.this);
        let idx = ring.members().iter().position(|m| *m == me);
        (ring, idx)
    }
}

/// The canonical form of a member URL, so `http://a/` and `http://a` are one member.
pub fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::series_hash;
    use crate::{Tags, TenantId};

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("http://10.0.0.{i}:6071")).collect()
    }

    fn hashes(n: usize) -> Vec<u64> {
        let t = TenantId::new("acme").unwrap();
        (0..n)
            .map(|i| {
                let tags = Tags::from_pairs([("core", (i % 16).to_string())]);
                series_hash(&t, &format!("host-{}", i / 16), "cpu.idle", &tags)
            })
            .collect()
    }

    #[test]
    fn series_spread_within_ten_percent() {
        for n in [3, 5, 8] {
            let ring = Ring::new(&nodes(n), 1024);
            let mut counts = vec![0usize; n];
            let hs = hashes(200_000);
            for h in &hs {
                counts[ring.owner(*h).unwrap()] += 1;
            }
            let fair = hs.len() as f64 / n as f64;
            for (i, c) in counts.iter().enumerate() {
                let dev = (*c as f64 - fair).abs() / fair;
                assert!(
                    dev < 0.10,
                    "{n} nodes: node {i} has {c}, fair {fair}: {dev}"
                );
            }
        }
    }

    #[test]
    fn adding_a_node_moves_only_its_share() {
        let before = Ring::new(&nodes(4), 1024);
        let after = Ring::new(&nodes(5), 1024);
        let hs = hashes(100_000);
        let mut moved = 0;
        for h in &hs {
            let a = &before.members()[before.owner(*h).unwrap()];
            let b = &after.members()[after.owner(*h).unwrap()];
            if a != b {
                // Only ever towards the new node.
                assert_eq!(b, &nodes(5)[4]);
                moved += 1;
            }
        }
        let share = moved as f64 / hs.len() as f64;
        assert!((0.15..0.25).contains(&share), "moved {share}");
    }

    #[test]
    fn removing_a_node_moves_only_its_series() {
        let all = nodes(5);
        let before = Ring::new(&all, 1024);
        let mut fewer = all.clone();
        let gone = fewer.remove(2);
        let after = Ring::new(&fewer, 1024);
        for h in hashes(50_000) {
            let a = &before.members()[before.owner(h).unwrap()];
            let b = &after.members()[after.owner(h).unwrap()];
            if a != &gone {
                assert_eq!(a, b, "a series not on the removed node moved");
            }
        }
    }

    #[test]
    fn replicas_are_distinct_and_capped() {
        let ring = Ring::new(&nodes(3), 64);
        for h in hashes(1_000) {
            let r = ring.replicas(h, 2);
            assert_eq!(r.len(), 2);
            assert_ne!(r[0], r[1]);
            assert_eq!(r[0], ring.owner(h).unwrap());
            assert_eq!(ring.replicas(h, 9).len(), 3);
        }
        assert!(Ring::new(&[], 8).replicas(1, 2).is_empty());
        let dup = Ring::new(&["http://a/".into(), "http://a".into()], 8);
        assert_eq!(dup.members().len(), 1);
    }
}
