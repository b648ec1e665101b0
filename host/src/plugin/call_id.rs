//! Call ids the host makes up for calls whose caller gave none: `<plugin>-<n>`, with `n`
//! unique in the process.
//!
//! The numbers come from one process-wide counter, but each thread reserves them a block at
//! a time: callers on different cores then never write the same cache line per call, which
//! a shared per-plugin counter did (it cost the 1 → 2 caller throughput scaling several
//! percent). Numbers are unique, increasing per thread, and not consecutive across threads.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers a thread takes from the shared counter at once.
const BLOCK: u64 = 1024;

static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's block: the next number to hand out, and the end of the block.
    static RESERVED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A call number no other call in this process has.
fn next() -> u64 {
    RESERVED.with(|reserved| {
        let (mut next, mut end) = reserved.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        reserved.set((next + 1, end));
        next
    })
}

/// Writes a new `<plugin>-<n>` into `id`, reusing its buffer. Written by hand: `format!`
/// costs more than the rest of a warm call's bookkeeping together.
pub(crate) fn write(id: &mut String, plugin: &str) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = next();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    id.clear();
    id.push_str(plugin);
    id.push('-');
    id.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_across_threads_and_blocks() {
        let ids: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut id = String::new();
                        (0..3 * super::BLOCK)
                            .map(|_| {
                                super::write(&mut id, "p");
                                id.clone()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        assert!(ids.iter().all(|id| id.starts_with("p-")));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    }
}
