//! Progress on a terminal: one line on stderr, redrawn in place, and nothing at all
//! when stderr is not a terminal (scripts, CI, pipes).

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A progress line.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    state: Mutex<Line>,
    done: AtomicUsize,
}

#[derive(Debug)]
struct Line {
    label: String,
    total: usize,
    last: Option<Instant>,
}

impl Progress {
    /// Shows progress when stderr is a terminal.
    pub fn on_terminal() -> Progress {
        Progress::new(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    /// Never shows anything (tests, libraries).
    pub fn quiet() -> Progress {
        Progress::new(false)
    }

    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            state: Mutex::new(Line {
                label: String::new(),
                total: 0,
                last: None,
            }),
            done: AtomicUsize::new(0),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Starts a step of `total` items (0: a step without a count).
    pub fn step(&self, label: &str, total: usize) {
        if !self.enabled {
            return;
        }
        self.done.store(0, Ordering::Relaxed);
        if let Ok(mut l) = self.state.lock() {
            l.label = label.to_owned();
            l.total = total;
            l.last = None;
        }
        self.draw(true);
    }

    /// One more item done.
    pub fn tick(&self) {
        if !self.enabled {
            return;
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        self.draw(false);
    }

    /// Sets how many items are done.
    pub fn set(&self, done: usize) {
        if !self.enabled {
            return;
        }
        self.done.store(done, Ordering::Relaxed);
        self.draw(false);
    }

    fn draw(&self, force: bool) {
        let Ok(mut l) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        if !force
            && l.last
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        l.last = Some(now);
        let done = self.done.load(Ordering::Relaxed);
        let text = if l.total > 0 {
            format!("\r\x1b[2K{} {}/{}", l.label, done.min(l.total), l.total)
        } else {
            format!("\r\x1b[2K{}…", l.label)
        };
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn finish(&self) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[2K");
        let _ = err.flush();
    }
}
