//! A hashed timer wheel with one-second slots: nodata deadlines are filed under their second,
//! so each tick touches only the entries due, never every series.

/// A timer wheel of items of type `T`.
#[derive(Debug)]
pub struct Wheel<T> {
    slots: Vec<Vec<(i64, T)>>,
    /// The next second to process; `None` until the first use.
    cursor: Option<i64>,
    len: usize,
}

const SLOTS: usize = 4096;

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel.
    pub fn new() -> Self {
        Wheel {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            cursor: None,
            len: 0,
        }
    }

    /// Entries filed (including stale ones the caller will ignore).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is filed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Files `item` to fire at `deadline` (Unix seconds). A deadline already past fires at the
    /// next [`advance`](Self::advance).
    pub fn schedule(&mut self, deadline: i64, item: T) {
        let cursor = *self.cursor.get_or_insert(deadline);
        let at = deadline.max(cursor);
        self.slots[slot(at)].push((deadline, item));
        self.len += 1;
    }

    /// Moves time to `now` and hands every entry due (deadline ≤ now) to `fire`, earliest
    /// second first.
    pub fn advance(&mut self, now: i64, mut fire: impl FnMut(i64, T)) {
        let Some(cursor) = self.cursor else {
            self.cursor = Some(now + 1);
            return;
        };
        if now < cursor {
            return;
        }
        // After a long pause every slot is visited once; entries not yet due stay.
        let last = now.min(cursor + SLOTS as i64 - 1);
        for sec in cursor..=last {
            let bucket = std::mem::take(&mut self.slots[slot(sec)]);
            let mut keep = Vec::new();
            for (d, item) in bucket {
                if d <= now {
                    self.len -= 1;
                    fire(d, item);
                } else {
                    keep.push((d, item));
                }
            }
            self.slots[slot(sec)] = keep;
        }
        self.cursor = Some(now + 1);
    }
}

fn slot(sec: i64) -> usize {
    sec.rem_euclid(SLOTS as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_due_entries_once_in_order() {
        let mut w = Wheel::new();
        w.schedule(100, "a");
        w.schedule(105, "b");
        w.schedule(100 + SLOTS as i64 + 3, "far");
        let mut got = vec![];
        w.advance(99, |d, x| got.push((d, x)));
        assert!(got.is_empty());
        w.advance(104, |d, x| got.push((d, x)));
        assert_eq!(got, vec![(100, "a")]);
        w.advance(104 + SLOTS as i64, |d, x| got.push((d, x)));
        assert_eq!(got, vec![(100, "a"), (105, "b"), (4199, "far")]);
        assert!(w.is_empty());
        // A deadline in the past fires at the next advance.
        w.schedule(10, "late");
        w.advance(5000, |d, x| got.push((d, x)));
        assert_eq!(got.last(), Some(&(10, "late")));
    }
}
