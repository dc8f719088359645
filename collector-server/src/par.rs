//! Work on all cores: chunks of items are processed by worker threads and handed to
//! one sink in their order, a bounded number at a time (two per worker in flight), so
//! the report writers write as fast as the cores render without ever holding the
//! whole document, and the fleet evaluation uses every core.

use std::sync::mpsc::sync_channel;

/// How many threads to use: the cores, at most 16.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
        .clamp(1, 16)
}

/// Renders `items` in chunks of `chunk` with `work` on [`threads`] threads and gives
/// each rendering to `sink` in the order of the chunks. The first error of `sink`
/// stops the work and is returned.
pub fn for_each_ordered<T: Sync, R: Send, E>(
    items: &[T],
    chunk: usize,
    work: impl Fn(&[T]) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let chunk = chunk.max(1);
    let n = threads();
    if n == 1 || items.len() <= chunk {
        for c in items.chunks(chunk) {
            sink(work(c))?;
        }
        return Ok(());
    }
    let chunks: Vec<&[T]> = items.chunks(chunk).collect();
    std::thread::scope(|s| {
        let mut results = Vec::with_capacity(n);
        for w in 0..n {
            let (tx, rx) = sync_channel::<R>(2);
            results.push(rx);
            let (chunks, work) = (&chunks, &work);
            s.spawn(move || {
                for c in chunks.iter().skip(w).step_by(n) {
                    if tx.send(work(c)).is_err() {
                        // The sink stopped.
                        break;
                    }
                }
            });
        }
        for i in 0..chunks.len() {
            let Some(rx) = results.get(i % n) else { break };
            match rx.recv() {
                Ok(r) => sink(r)?,
                // A worker panicked: the scope passes its panic on.
                Err(_) => break,
            }
        }
        // Dropping the receivers (on an error too) ends the workers.
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_reach_the_sink_in_order() {
        let items: Vec<u32> = (0..10_000).collect();
        let mut seen = Vec::new();
        for_each_ordered(
            &items,
            7,
            |c| c.iter().map(|x| x * 2).collect::<Vec<_>>(),
            |r| {
                seen.extend(r);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_of_the_sink_stops_the_work() {
        let items: Vec<u32> = (0..10_000).collect();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let mut sunk = 0;
        let r = for_each_ordered(
            &items,
            10,
            |c| {
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                c.len()
            },
            |_| {
                sunk += 1;
                if sunk == 3 { Err("disk full") } else { Ok(()) }
            },
        );
        assert_eq!(r, Err("disk full"));
        assert_eq!(sunk, 3);
        // Bounded: the workers stopped long before the 1,000 chunks.
        assert!(done.load(std::sync::atomic::Ordering::Relaxed) < 100);
    }
}
