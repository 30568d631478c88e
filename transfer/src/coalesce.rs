//! Natural batching of concurrent writes to one downstream, as a write-ahead log's group
//! commit: a few writes run at once; a delivery arriving while all of them are busy waits,
//! and every delivery that waited goes out together in the next write, which then answers each
//! of them. An agent pushes its own small batch, so a busy transfer would otherwise send the
//! storage node one request (and one fsync) per agent push; nothing waits when the downstream
//! keeps up.

use crate::payload::{Payload, Share};
use crate::sink::SendError;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// What a delivery that waited gets back: the outcome of the write that carried its points,
/// and the points themselves when that write failed but may be retried (to be spooled; empty
/// otherwise).
pub type Outcome = (Result<(), SendError>, Payload);

struct Waiter {
    points: Payload,
    done: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    in_flight: usize,
    queue: VecDeque<Waiter>,
}

/// The write slots and the queue of one downstream.
pub struct Coalescer {
    state: Mutex<State>,
    max_in_flight: usize,
    max_points: usize,
}

/// Several deliveries' points merged into one write.
pub struct Merged {
    /// The points, delivery after delivery (frame bytes concatenated: nothing is re-encoded).
    pub points: Payload,
    /// Each delivery's share of `points` (in order) and where its answer goes.
    waiters: Vec<(Share, oneshot::Sender<Outcome>)>,
}

impl Coalescer {
    /// At most `max_in_flight` writes at once; a merged write takes queued deliveries until
    /// it holds `max_points` points (always at least one delivery).
    pub fn new(max_in_flight: usize, max_points: usize) -> Coalescer {
        Coalescer {
            state: Mutex::default(),
            max_in_flight: max_in_flight.max(1),
            max_points: max_points.max(1),
        }
    }

    /// A write slot for `points` now (`Ok`: send them, then call [`Self::release`]), or a
    /// place in the queue (`Err`: the answer arrives on the receiver).
    pub fn admit(&self, points: Payload) -> Result<Payload, oneshot::Receiver<Outcome>> {
        let mut s = self.state.lock().expect("coalescer lock");
        if s.in_flight < self.max_in_flight && s.queue.is_empty() {
            s.in_flight += 1;
            return Ok(points);
        }
        let (done, rx) = oneshot::channel();
        s.queue.push_back(Waiter { points, done });
        Err(rx)
    }

    /// A write finished: its slot goes to the next merged write (send it, then
    /// [`Merged::finish`] and [`Self::release`] again), or is freed when nothing waits.
    pub fn release(&self) -> Option<Merged> {
        let mut s = self.state.lock().expect("coalescer lock");
        if s.queue.is_empty() {
            s.in_flight -= 1;
            return None;
        }
        let first = s.queue.pop_front().expect("the queue is not empty");
        let mut merged = Merged {
            waiters: vec![(first.points.share(), first.done)],
            points: first.points,
        };
        while let Some(w) = s.queue.front() {
            if merged.points.len() + w.points.len() > self.max_points {
                break;
            }
            let w = s.queue.pop_front().expect("front exists");
            let share = merged.points.append(w.points);
            merged.waiters.push((share, w.done));
        }
        Some(merged)
    }

    /// Deliveries waiting for a slot.
    pub fn queued(&self) -> usize {
        self.state.lock().expect("coalescer lock").queue.len()
    }
}

impl Merged {
    /// Deliveries carried.
    pub fn deliveries(&self) -> usize {
        self.waiters.len()
    }

    /// Answers every delivery with `result`, and with its own points back when the write may
    /// be retried (they are then spooled). Otherwise nothing needs them, and copying every
    /// delivery's bytes out again would be wasted: each gets an empty payload.
    pub fn finish(mut self, result: &Result<(), SendError>) {
        let keep = matches!(result, Err(SendError::Retryable(_)));
        for (share, done) in self.waiters.into_iter().rev() {
            let own = if keep {
                self.points.split_off(share)
            } else {
                self.points.empty()
            };
            let r = match result {
                Ok(()) => Ok(()),
                Err(SendError::Retryable(m)) => Err(SendError::Retryable(m.clone())),
                Err(SendError::Refused(m)) => Err(SendError::Refused(m.clone())),
            };
            // A delivery that gave up waiting has nothing left to answer.
            let _ = done.send((r, own));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::Point;

    fn pts(tag: &str, n: usize) -> Payload {
        Payload::Points(
            (0..n)
                .map(|i| Point::gauge(tag, "m", Default::default(), i as f64, 1))
                .collect(),
        )
    }

    #[test]
    fn waits_only_when_every_slot_is_busy_and_merges_what_waited() {
        let c = Coalescer::new(2, 5);
        assert!(c.admit(pts("a", 1)).is_ok());
        assert!(c.admit(pts("b", 1)).is_ok());
        let mut rx: Vec<_> = [("c", 2), ("d", 2), ("e", 3)]
            .into_iter()
            .map(|(t, n)| c.admit(pts(t, n)).expect_err("both slots are busy"))
            .collect();
        assert_eq!(c.queued(), 3);
        // The first write ends: c and d fit in 5 points, e waits for the next one.
        let m = c.release().expect("deliveries wait");
        assert_eq!((m.deliveries(), m.points.len()), (2, 4));
        m.finish(&Err(SendError::Retryable("down".into())));
        for (want, r) in ["c", "d"].into_iter().zip(rx.drain(..2)) {
            let (res, back) = r.blocking_recv().unwrap();
            assert!(matches!(res, Err(SendError::Retryable(_))));
            assert_eq!(back.len(), 2);
            let back = back.into_points().unwrap();
            assert!(back.iter().all(|p| p.endpoint == want), "own points back");
        }
        let m = c.release().expect("e waits");
        assert_eq!(m.points.len(), 3);
        m.finish(&Ok(()));
        let (res, back) = rx.remove(0).blocking_recv().unwrap();
        assert!(res.is_ok() && back.is_empty());
        // Both slots come free; the next delivery goes straight out.
        assert!(c.release().is_none());
        assert!(c.release().is_none());
        assert!(c.admit(pts("f", 1)).is_ok());
    }

    #[test]
    fn one_slot_merges_what_arrived_during_the_write_and_answers_after_the_merged_one() {
        use tokio::sync::oneshot::error::TryRecvError;
        // The default: one write in flight, as eight agents' pushes of one host each arrive.
        let c = Coalescer::new(1, 20_000);
        assert!(c.admit(pts("a", 71)).is_ok());
        let mut rx: Vec<_> = (0..7)
            .map(|i| {
                c.admit(pts(&format!("h{i}"), 71))
                    .expect_err("the slot is busy")
            })
            .collect();
        let pending = |rx: &mut Vec<oneshot::Receiver<Outcome>>| {
            rx.iter_mut()
                .all(|r| matches!(r.try_recv(), Err(TryRecvError::Empty)))
        };
        assert!(
            pending(&mut rx),
            "nothing is answered before a write carries it"
        );
        // The first write ends: all seven go together in one write...
        let m = c.release().expect("deliveries wait");
        assert_eq!((m.deliveries(), m.points.len()), (7, 7 * 71));
        // ...and are answered only when that write has finished (the store acknowledges after
        // its fsync), not when it starts.
        assert!(
            pending(&mut rx),
            "still unanswered while the merged write is in flight"
        );
        m.finish(&Ok(()));
        for (i, r) in rx.into_iter().enumerate() {
            let (res, back) = r.blocking_recv().expect("answered");
            assert!(res.is_ok(), "delivery {i}");
            assert!(
                back.is_empty(),
                "a durable delivery's points are not copied back"
            );
        }
        assert!(c.release().is_none());
        assert!(c.admit(pts("b", 1)).is_ok(), "the slot is free again");
    }

    #[test]
    fn a_delivery_larger_than_the_cap_still_goes_alone() {
        let c = Coalescer::new(1, 2);
        assert!(c.admit(pts("a", 1)).is_ok());
        let _big = c.admit(pts("b", 10)).unwrap_err();
        let _small = c.admit(pts("c", 1)).unwrap_err();
        let m = c.release().unwrap();
        assert_eq!((m.deliveries(), m.points.len()), (1, 10));
    }
}
