//! The dashboard's export jobs: a report or an evidence bundle made in a task of this
//! collector while the browser watches its progress (`/ui/downloads/jobs/{id}`), then
//! fetched from a file under the scratch directory.
//!
//! Jobs live in this process's memory only: behind a load balancer with several
//! collectors, the downloads path needs sticky routing (or the user starts again).
//! A job belongs to the user who started it (any other gets 404); its id is 128
//! random bits. At most [`MAX_RUNNING`] run at once per collector and
//! [`MAX_RUNNING_PER_USER`] per user. A finished job and its file are removed
//! [`KEEP_MS`] after it finished: swept at each new job, at each look-up, and once a
//! minute.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use rand_core::{OsRng, RngCore as _};

use super::UiState;
use super::view::Key;
use crate::report::{Format, Progress};
use crate::store::Millis;

/// A finished job and its file are kept this long (1 hour).
pub const KEEP_MS: Millis = 3_600_000;
/// Jobs running at once in one collector.
pub const MAX_RUNNING: usize = 4;
/// Jobs running at once for one user.
pub const MAX_RUNNING_PER_USER: usize = 2;

/// What a job makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Report(Format),
    Bundle,
}

impl Kind {
    /// The file's extension and content type (as the downloads always had).
    pub fn file_type(self) -> (&'static str, &'static str) {
        match self {
            Kind::Report(Format::Html) => ("html", "text/html; charset=utf-8"),
            Kind::Report(Format::Csv) => ("csv", "text/csv; charset=utf-8"),
            Kind::Report(Format::Json) => ("json", "application/json"),
            Kind::Report(Format::Oscal) => ("oscal.json", "application/json"),
            Kind::Bundle => ("tar.gz", "application/gzip"),
        }
    }

    /// In words, for the job's page.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Report(Format::Html) => "HTML report",
            Kind::Report(Format::Csv) => "CSV report",
            Kind::Report(Format::Json) => "JSON report",
            Kind::Report(Format::Oscal) => "OSCAL assessment results",
            Kind::Bundle => "Evidence bundle",
        }
    }
}

/// A made file.
#[derive(Debug)]
pub struct Made {
    /// Removed from the disk when the job goes.
    pub path: tempfile::TempPath,
    /// The attachment's file name.
    pub name: String,
    pub bytes: u64,
}

/// Where a job is.
#[derive(Debug)]
pub enum Outcome {
    Running,
    Done(Made),
    /// Why, in words for the user (the log has the details).
    Failed(String),
}

/// One export.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub user: String,
    pub kind: Kind,
    pub key: Key,
    pub started: Millis,
    /// The export's progress, read by the job's page.
    pub progress: Progress,
    outcome: Mutex<(Outcome, Option<Millis>)>,
}

impl Job {
    fn outcome(&self) -> Option<MutexGuard<'_, (Outcome, Option<Millis>)>> {
        self.outcome.lock().ok()
    }

    /// Whether the job still runs.
    pub fn running(&self) -> bool {
        self.outcome()
            .is_some_and(|o| matches!(o.0, Outcome::Running))
    }

    /// The made file's path, attachment name and size, once done.
    pub fn file(&self) -> Option<(PathBuf, String, u64)> {
        match &self.outcome()?.0 {
            Outcome::Done(m) => Some((m.path.to_path_buf(), m.name.clone(), m.bytes)),
            _ => None,
        }
    }

    /// Why it failed, if it did.
    pub fn error(&self) -> Option<String> {
        match &self.outcome()?.0 {
            Outcome::Failed(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// When it finished.
    pub fn finished(&self) -> Option<Millis> {
        self.outcome()?.1
    }

    /// Records how the job ended (once: a finished job stays as it ended).
    pub fn finish(&self, outcome: Outcome, now: Millis) {
        if let Some(mut o) = self.outcome()
            && matches!(o.0, Outcome::Running)
        {
            *o = (outcome, Some(now));
        }
    }
}

/// Why a job was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// [`MAX_RUNNING`] run already.
    Collector,
    /// [`MAX_RUNNING_PER_USER`] of this user's run already.
    User,
}

/// The jobs of this collector.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    sweeping: AtomicBool,
}

impl Jobs {
    fn lock(&self) -> Option<MutexGuard<'_, HashMap<String, Arc<Job>>>> {
        self.jobs.lock().ok()
    }

    /// Registers a new running job of `user` (its task is the caller's), unless too
    /// many run already. Sweeps expired jobs first.
    pub fn start(&self, user: &str, kind: Kind, key: Key, now: Millis) -> Result<Arc<Job>, Busy> {
        self.sweep(now);
        let Some(mut jobs) = self.lock() else {
            return Err(Busy::Collector);
        };
        let running: Vec<&Arc<Job>> = jobs.values().filter(|j| j.running()).collect();
        if running.len() >= MAX_RUNNING {
            return Err(Busy::Collector);
        }
        if running.iter().filter(|j| j.user == user).count() >= MAX_RUNNING_PER_USER {
            return Err(Busy::User);
        }
        let job = Arc::new(Job {
            id: new_id(),
            user: user.to_owned(),
            kind,
            key,
            started: now,
            progress: Progress::observed(),
            outcome: Mutex::new((Outcome::Running, None)),
        });
        jobs.insert(job.id.clone(), Arc::clone(&job));
        Ok(job)
    }

    /// The job `id` if `user` started it and it has not expired.
    pub fn get(&self, id: &str, user: &str, now: Millis) -> Option<Arc<Job>> {
        self.sweep(now);
        self.lock()?.get(id).filter(|j| j.user == user).cloned()
    }

    /// Removes jobs finished [`KEEP_MS`] ago or more, and their files.
    pub fn sweep(&self, now: Millis) {
        let gone: Vec<Arc<Job>> = match self.lock() {
            Some(mut jobs) => {
                let expired: Vec<String> = jobs
                    .iter()
                    .filter(|(_, j)| j.finished().is_some_and(|t| now - t >= KEEP_MS))
                    .map(|(id, _)| id.clone())
                    .collect();
                expired.iter().filter_map(|id| jobs.remove(id)).collect()
            }
            None => Vec::new(),
        };
        // The files go as the last reference to each job drops (outside the lock).
        for job in gone {
            tracing::debug!(job = %job.id, "dashboard: export job expired");
        }
    }

    /// Sweeps once a minute from now on, for as long as the dashboard exists
    /// (started once, at the first job).
    pub fn keep_swept(state: &Arc<UiState>) {
        if state.jobs.sweeping.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<UiState> = Arc::downgrade(state);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(state) = weak.upgrade() else {
                    return;
                };
                state.jobs.sweep(state.now());
            }
        });
    }

    /// Jobs kept (running or finished).
    pub fn count(&self) -> usize {
        self.lock().map_or(0, |j| j.len())
    }
}

/// 128 random bits, in hex.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Key = Key {
        at: None,
        period_days: 0,
    };

    #[test]
    fn at_most_four_run_per_collector_and_two_per_user() {
        let jobs = Jobs::default();
        let csv = Kind::Report(Format::Csv);
        let a1 = jobs.start("ada", csv, NOW, 0).unwrap();
        jobs.start("ada", Kind::Bundle, NOW, 0).unwrap();
        assert_eq!(jobs.start("ada", csv, NOW, 0).unwrap_err(), Busy::User);
        jobs.start("bob", csv, NOW, 0).unwrap();
        jobs.start("cy", csv, NOW, 0).unwrap();
        assert_eq!(jobs.start("dee", csv, NOW, 0).unwrap_err(), Busy::Collector);
        // A finished job no longer counts.
        a1.finish(Outcome::Failed("no".into()), 1);
        jobs.start("dee", csv, NOW, 2).unwrap();
        assert_eq!(jobs.count(), 5);
    }

    #[test]
    fn ids_are_random_and_a_job_is_its_users_only() {
        let jobs = Jobs::default();
        let a = jobs.start("ada", Kind::Bundle, NOW, 0).unwrap();
        let b = jobs.start("ada", Kind::Bundle, NOW, 0).unwrap();
        assert_eq!(a.id.len(), 32);
        assert!(a.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.id, b.id);
        assert!(jobs.get(&a.id, "ada", 0).is_some());
        assert!(jobs.get(&a.id, "bob", 0).is_none());
        assert!(jobs.get("0", "ada", 0).is_none());
    }

    #[test]
    fn a_finished_job_and_its_file_go_an_hour_later_and_a_running_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = Jobs::default();
        let running = jobs.start("ada", Kind::Bundle, NOW, 0).unwrap();
        let done = jobs.start("ada", Kind::Bundle, NOW, 0).unwrap();
        let path = tempfile::NamedTempFile::new_in(dir.path())
            .unwrap()
            .into_temp_path();
        let file = path.to_path_buf();
        done.finish(
            Outcome::Done(Made {
                path,
                name: "x.tar.gz".into(),
                bytes: 0,
            }),
            10,
        );
        // Finishing twice changes nothing.
        done.finish(Outcome::Failed("late".into()), 20);
        assert_eq!(done.finished(), Some(10));
        assert!(done.file().is_some());
        let (id, running_id) = (done.id.clone(), running.id.clone());
        drop((done, running));
        jobs.sweep(10 + KEEP_MS - 1);
        assert!(jobs.get(&id, "ada", 10 + KEEP_MS - 1).is_some());
        assert!(file.exists());
        assert!(jobs.get(&id, "ada", 10 + KEEP_MS).is_none());
        assert!(!file.exists(), "the file outlived its job");
        assert!(jobs.get(&running_id, "ada", 100 * KEEP_MS).is_some());
    }
}
