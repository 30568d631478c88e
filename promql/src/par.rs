//! One query's work spread over the machine's cores, with the answer exactly as one thread
//! gives it: rows are computed on several threads, but handed on in index order on the calling
//! thread, so whatever is summed from them is summed in the same order.

use std::sync::mpsc;

/// Values a block of rows holds (half a megabyte of `Option<f64>`): big enough that handing a
/// block between threads costs nothing next to computing it, small enough to stay in cache.
const BLOCK_VALUES: usize = 32 * 1024;

/// Rows times width below which one thread does the work (a thread costs tens of µs to start).
pub(crate) const PARALLEL_MIN_VALUES: usize = 64 * 1024;

#[cfg(test)]
thread_local! {
    /// Tests set the thread count to compare answers across counts.
    pub(crate) static THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Threads one query's work may use: the machine's cores.
pub(crate) fn threads() -> usize {
    #[cfg(test)]
    if let Some(n) = THREADS.with(|t| t.get()) {
        return n;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Computes `n` rows of `width` values, row `i` by `fill(i, row)` (on up to `threads` threads,
/// in blocks), and hands them to `each(i, row)` on this thread in order of `i`. An error from
/// `each` stops the work and is returned.
pub(crate) fn ordered_rows<T, E>(
    n: usize,
    width: usize,
    threads: usize,
    fill: &(dyn Fn(usize, &mut [T]) + Sync),
    mut each: impl FnMut(usize, &[T]) -> Result<(), E>,
) -> Result<(), E>
where
    T: Copy + Default + Send,
{
    if width == 0 {
        for i in 0..n {
            each(i, &[])?;
        }
        return Ok(());
    }
    let block = (BLOCK_VALUES / width).clamp(1, n.max(1));
    let blocks = n.div_ceil(block);
    let fill_block = |b: usize, buf: &mut Vec<T>| {
        let lo = b * block;
        let hi = (lo + block).min(n);
        buf.clear();
        buf.resize((hi - lo) * width, T::default());
        for (j, row) in buf.chunks_exact_mut(width).enumerate() {
            fill(lo + j, row);
        }
    };
    let mut hand = |b: usize, buf: &[T]| -> Result<(), E> {
        for (j, row) in buf.chunks_exact(width).enumerate() {
            each(b * block + j, row)?;
        }
        Ok(())
    };
    let lanes = threads.clamp(1, blocks.max(1));
    if lanes == 1 {
        let mut buf = Vec::new();
        for b in 0..blocks {
            fill_block(b, &mut buf);
            hand(b, &buf)?;
        }
        return Ok(());
    }
    // Block b is computed by lane b % lanes; lane 0 is this thread, which also consumes every
    // block in order. Each helper keeps one block ready ahead and gets its buffers back.
    std::thread::scope(|s| {
        let fill_block = &fill_block;
        let mut helpers = Vec::with_capacity(lanes - 1);
        for lane in 1..lanes {
            let (ready, done) = mpsc::sync_channel::<Vec<T>>(1);
            let (give_back, spare) = mpsc::channel::<Vec<T>>();
            s.spawn(move || {
                let mut b = lane;
                while b < blocks {
                    let mut buf = spare.try_recv().unwrap_or_default();
                    fill_block(b, &mut buf);
                    // The consumer stopped (an error): nothing more is wanted.
                    if ready.send(buf).is_err() {
                        return;
                    }
                    b += lanes;
                }
            });
            helpers.push((done, give_back));
        }
        let mut own = Vec::new();
        for b in 0..blocks {
            let lane = b % lanes;
            if lane == 0 {
                fill_block(b, &mut own);
                hand(b, &own)?;
            } else {
                let (done, give_back) = &helpers[lane - 1];
                let buf = done.recv().expect("a helper sends every block of its lane");
                hand(b, &buf)?;
                let _ = give_back.send(buf);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_arrive_in_order_whatever_the_thread_count() {
        for n in [0, 1, 5, 1000, 9000] {
            for width in [0, 1, 7, 241] {
                let mut want = Vec::new();
                for threads in [1, 2, 3, 8] {
                    let fill = |i: usize, row: &mut [u64]| {
                        for (k, v) in row.iter_mut().enumerate() {
                            *v = (i * 1000 + k) as u64;
                        }
                    };
                    let mut got = Vec::new();
                    ordered_rows(n, width, threads, &fill, |i, row| -> Result<(), ()> {
                        assert_eq!(row.len(), width);
                        got.push((i, row.iter().sum::<u64>()));
                        Ok(())
                    })
                    .unwrap();
                    assert_eq!(got.len(), n);
                    if threads == 1 {
                        want = got;
                    } else {
                        assert_eq!(got, want, "{n} rows of {width} on {threads} threads");
                    }
                }
            }
        }
    }

    #[test]
    fn an_error_stops_the_rows() {
        let fill = |i: usize, row: &mut [u64]| row.fill(i as u64);
        let mut seen = 0;
        let e = ordered_rows(100_000, 10, 2, &fill, |i, _| {
            seen += 1;
            if i == 5000 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!(e, Err("stop"));
        assert_eq!(seen, 5001);
    }
}
