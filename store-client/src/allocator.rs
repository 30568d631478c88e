//! Tuning of the process allocator (mimalloc v2) that `argus-store`, `argus-transfer` and the
//! ingest bench install.
//!
//! By default mimalloc gives freed pages back to the OS 10 ms after they fall empty. Under a
//! steady ingest the same memory is needed again moments later, so every batch paid page
//! faults and the kernel zeroing fresh (often 2 MiB transparent huge) pages: `clear_page_erms`
//! was a quarter of the ingest bench's profile and the process took ~21 000 page faults for
//! 1.5 M points, against ~1 400 with a 1 s delay (docs/BENCHMARKS.md, transfer). Memory idle
//! for longer than the delay is still returned, so a node's resident size still falls after a
//! burst.

/// How long (ms) an empty page stays with the process before it is returned to the OS.
pub const PURGE_DELAY_MS: i64 = 1000;

/// mimalloc v2's `mi_option_purge_delay` (its position in `mi_option_e`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies [`PURGE_DELAY_MS`] unless `MIMALLOC_PURGE_DELAY` is set in the environment (an
/// operator's choice wins). Call first thing in `main`; harmless when mimalloc is not the
/// global allocator (it only sets an option of the linked library).
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a process-wide integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        tune();
        // SAFETY: reads a process-wide integer option.
        let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(v as i64, PURGE_DELAY_MS);
    }
}
