//! Rows of a series: timestamps and value columns, as chunks decode them and as the range
//! aggregations (in the storage node and in the transfer) compute over them.

/// Rows decoded from a chunk: timestamps and value columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    /// Timestamps, ascending.
    pub ts: Vec<i64>,
    /// Value columns, each `ts.len()` long.
    pub cols: Vec<Vec<f64>>,
}

impl Rows {
    /// Raw rows (one column) from `(t, v)` pairs.
    pub fn from_pairs(p: &[(i64, f64)]) -> Self {
        Rows {
            ts: p.iter().map(|x| x.0).collect(),
            cols: vec![p.iter().map(|x| x.1).collect()],
        }
    }

    /// `(t, v)` pairs of column `c`.
    pub fn pairs(&self, c: usize) -> Vec<(i64, f64)> {
        self.ts
            .iter()
            .copied()
            .zip(self.cols[c].iter().copied())
            .collect()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}
