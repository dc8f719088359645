//! Progress of a long report or export: a line on stderr when it is a terminal
//! (`indicatif`; nothing at all for scripts, CI and pipes), and a snapshot (step,
//! done, total) the dashboard's export jobs read while the export runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress of one report or export.
#[derive(Debug)]
pub struct Progress {
    /// Drawn on stderr (a terminal only).
    bar: Option<ProgressBar>,
    /// Keeps the snapshot (`observed`, and `on_terminal` on a terminal); `quiet`
    /// keeps nothing.
    kept: bool,
    step: Mutex<Step>,
    /// Items done in the current step: ticked from many threads at once.
    done: AtomicUsize,
}

#[derive(Debug, Default)]
struct Step {
    label: String,
    total: usize,
}

impl Progress {
    /// Shows progress when stderr is a terminal.
    pub fn on_terminal() -> Progress {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr())
            .then(|| ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()));
        let kept = bar.is_some();
        Progress::new(bar, kept)
    }

    /// Never shows anything (tests, libraries).
    pub fn quiet() -> Progress {
        Progress::new(None, false)
    }

    /// Shows nothing, but keeps the step and its counts for [`Progress::snapshot`]
    /// (the dashboard's export jobs).
    pub fn observed() -> Progress {
        Progress::new(None, true)
    }

    fn new(bar: Option<ProgressBar>, kept: bool) -> Progress {
        Progress {
            bar,
            kept,
            step: Mutex::new(Step::default()),
            done: AtomicUsize::new(0),
        }
    }

    /// Whether progress is drawn on a terminal.
    pub fn is_enabled(&self) -> bool {
        self.bar.is_some()
    }

    /// Starts a step of `total` items (0: a step without a count).
    pub fn step(&self, label: &str, total: usize) {
        if !self.kept {
            return;
        }
        if let Ok(mut s) = self.step.lock() {
            label.clone_into(&mut s.label);
            s.total = total;
            self.done.store(0, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            // In this order, every line drawn meanwhile is true: the old step without
            // its counts, the new one without, then with its counts.
            bar.set_style(style("{msg}…"));
            bar.set_message(label.to_owned());
            if total > 0 {
                bar.set_length(total as u64);
                bar.set_position(0);
                bar.set_style(style("{msg} [{bar:30}] {pos}/{len}"));
            } else {
                bar.unset_length();
                bar.set_position(0);
            }
        }
    }

    /// One more item done.
    pub fn tick(&self) {
        if !self.kept {
            return;
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Sets how many items are done.
    pub fn set(&self, done: usize) {
        if !self.kept {
            return;
        }
        self.done.store(done, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    /// The current step: its label, items done (at most its total when it has one)
    /// and its total (0: a step without a count). Empty before the first step, and
    /// always for [`Progress::quiet`].
    pub fn snapshot(&self) -> (String, usize, usize) {
        let (label, total) = self
            .step
            .lock()
            .map(|s| (s.label.clone(), s.total))
            .unwrap_or_default();
        let done = self.done.load(Ordering::Relaxed);
        let done = if total > 0 { done.min(total) } else { done };
        (label, done, total)
    }

    /// Clears the line (the snapshot keeps the last step).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// An `indicatif` style (the templates are constants: one that does not parse falls
/// back to the default style rather than failing a report).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).map_or_else(
        |_| ProgressStyle::default_bar(),
        |s| s.progress_chars("=> "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_follows_step_tick_and_set() {
        let p = Progress::observed();
        assert!(!p.is_enabled(), "an observed progress draws nothing");
        assert_eq!(p.snapshot(), (String::new(), 0, 0));
        p.step("verifying envelopes", 10);
        assert_eq!(p.snapshot(), ("verifying envelopes".to_owned(), 0, 10));
        // Ticks from several threads at once are all counted.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..2 {
                        p.tick();
                    }
                });
            }
        });
        assert_eq!(p.snapshot(), ("verifying envelopes".to_owned(), 6, 10));
        p.set(9);
        assert_eq!(p.snapshot().1, 9);
        // Never more done than the total.
        p.set(12);
        assert_eq!(p.snapshot().1, 10);
        // A new step starts from nothing.
        p.step("writing", 0);
        assert_eq!(p.snapshot(), ("writing".to_owned(), 0, 0));
        p.tick();
        assert_eq!(p.snapshot(), ("writing".to_owned(), 1, 0));
        p.finish();
        assert_eq!(p.snapshot().0, "writing");
    }

    #[test]
    fn a_quiet_progress_keeps_nothing() {
        let p = Progress::quiet();
        p.step("evaluating", 5);
        p.tick();
        p.set(3);
        assert_eq!(p.snapshot(), (String::new(), 0, 0));
        assert!(!p.is_enabled());
    }
}
