//! The one live stream of a run: the engine's collector closes each second once every worker
//! thread reported it and emits one snapshot; [`Live`] hands it to every reader that
//! subscribed (the progress line, the dashboard, Prometheus), in order, on one thread.

use std::sync::{Arc, Mutex};

use volley_engine::Progress;
use volley_metrics::ResourceSample;

/// One second of a run: the engine's figures and the latest server samples.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub engine: Progress,
    /// The latest CPU/memory sample of each watched process (labelled), volley included.
    pub server: Vec<ResourceSample>,
}

impl std::ops::Deref for Snapshot {
    type Target = Progress;
    fn deref(&self) -> &Progress {
        &self.engine
    }
}

type Reader = Box<dyn FnMut(&Snapshot) + Send>;

/// The readers of the live snapshots (cheap to clone; every clone feeds the same readers).
#[derive(Clone, Default)]
pub struct Live {
    readers: Arc<Mutex<Vec<Reader>>>,
    results: Arc<std::sync::atomic::AtomicBool>,
    control: Arc<volley_engine::Control>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    pub fn new() -> Live {
        Live::default()
    }

    /// A stream of its own readers that shares this one's steering and its need for results:
    /// a part of a larger run (a capacity step) watched by its own guard, forwarding to the
    /// parent, and still driven from the parent's dashboard.
    pub fn child(&self) -> Live {
        Live {
            readers: Arc::default(),
            results: self.results.clone(),
            control: self.control.clone(),
        }
    }

    /// Calls `reader` with every snapshot of every run started after this call.
    pub fn subscribe(&self, reader: impl FnMut(&Snapshot) + Send + 'static) {
        self.readers.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(reader));
    }

    /// The steering of the runs fed to this stream (pause, externally-controlled VUs).
    pub fn control(&self) -> Arc<volley_engine::Control> {
        self.control.clone()
    }

    /// Some reader needs the result so far in every snapshot (the dashboard, Prometheus):
    /// the engine then assembles one each second.
    pub fn want_results(&self) {
        self.results.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn wants_results(&self) -> bool {
        self.results.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn has_readers(&self) -> bool {
        !self.readers.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Hands one snapshot to every reader.
    pub fn publish(&self, s: &Snapshot) {
        for r in self.readers.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            r(s);
        }
    }

    /// A sender for the engine and the thread that forwards what it sends; the thread ends
    /// when the engine drops the sender (the run ended).
    /// `server` gives the latest server samples for each snapshot.
    pub(crate) fn feed(
        &self,
        server: impl Fn() -> Vec<ResourceSample> + Send + 'static,
    ) -> Option<(std::sync::mpsc::Sender<Progress>, std::thread::JoinHandle<()>)> {
        if !self.has_readers() {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel::<Progress>();
        let me = self.clone();
        let h = std::thread::Builder::new()
            .name("volley-live".into())
            .spawn(move || {
                for engine in rx {
                    me.publish(&Snapshot { engine, server: server() });
                }
            })
            .ok()?;
        Some((tx, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reader_sees_every_snapshot_in_order() {
        let live = Live::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for tag in 0..2 {
            let seen = seen.clone();
            live.subscribe(move |s| seen.lock().unwrap().push((tag, s.requests)));
        }
        let (tx, h) = live.feed(Vec::new).unwrap();
        for n in 1..=3 {
            tx.send(Progress { requests: n, ..Progress::default() }).unwrap();
        }
        drop(tx);
        h.join().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]);
    }

    #[test]
    fn a_child_has_its_own_readers_but_the_parents_control_and_needs() {
        let parent = Live::new();
        let child = parent.child();
        assert!(!child.has_readers() && !child.wants_results());
        parent.want_results();
        assert!(child.wants_results());
        assert!(Arc::ptr_eq(&parent.control(), &child.control()));
        parent.subscribe(|_| {});
        assert!(!child.has_readers());
    }
}
