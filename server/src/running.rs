//! The jobs this process is running, by asset, so that deleting an asset
//! stops its transcode at once (the child is killed within 100 ms).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct RunningJobs {
    jobs: Mutex<HashMap<String, Vec<Arc<AtomicBool>>>>,
}

impl RunningJobs {
    /// Registers a job of `asset_id`; the returned guard holds its stop flag
    /// and unregisters it when dropped.
    pub fn start(self: &Arc<Self>, asset_id: &str) -> RunningJob {
        let stop = Arc::new(AtomicBool::new(false));
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.entry(asset_id.to_owned()).or_default().push(stop.clone());
        RunningJob { jobs: self.clone(), asset_id: asset_id.to_owned(), stop }
    }

    /// Stops every job of `asset_id` running here; whether there was one.
    pub fn cancel(&self, asset_id: &str) -> bool {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let flags = jobs.get(asset_id).map(Vec::as_slice).unwrap_or_default();
        flags.iter().for_each(|flag| flag.store(true, Ordering::SeqCst));
        !flags.is_empty()
    }
}

#[derive(Debug)]
pub struct RunningJob {
    jobs: Arc<RunningJobs>,
    asset_id: String,
    stop: Arc<AtomicBool>,
}

impl RunningJob {
    /// Turns true when the job must stop: its asset was deleted, or the
    /// worker is shutting down.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        let mut jobs = self.jobs.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flags) = jobs.get_mut(&self.asset_id) {
            flags.retain(|flag| !Arc::ptr_eq(flag, &self.stop));
            if flags.is_empty() {
                jobs.remove(&self.asset_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_only_the_assets_jobs_and_ends_with_them() {
        let running = Arc::new(RunningJobs::default());
        let a = running.start("a");
        let b = running.start("b");
        assert!(running.cancel("a"));
        assert!(a.stop_flag().load(Ordering::SeqCst));
        assert!(!b.stop_flag().load(Ordering::SeqCst));
        drop(a);
        assert!(!running.cancel("a"), "a finished job is no longer registered");
    }
}
