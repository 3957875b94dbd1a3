//! Watchers: how a blocked reader (a Python coroutine, an Erlang process
//! waiting on a NIF) learns that a queue or buffer changed without polling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Told that something it watches changed (an item came, data came, or it
/// closed). Must be cheap and non-blocking; it is called with no lock held.
///
/// It may be called on any thread, including the one sending, and may call
/// back into what it watches. A wake carries no payload: the watcher
/// re-checks the state, so a spurious wake is harmless.
pub trait Wake: Send + Sync {
    fn wake(&self);
}

/// Identifies a watcher registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatchId(u64);

impl WatchId {
    /// Ids are unique process-wide, so an id handed to the wrong queue's
    /// `unwatch` removes nothing instead of someone else's watcher.
    fn next() -> WatchId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        WatchId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The watchers of one queue or buffer; lives inside that object's mutex.
///
/// Besides the registrations it keeps a ready-made shared list, so a notify
/// under the lock costs one reference-count increment (or nothing when no
/// one watches) rather than a fresh allocation per send.
#[derive(Default)]
pub(crate) struct Watchers {
    entries: Vec<(WatchId, Arc<dyn Wake>)>,
    shared: Option<Arc<[Arc<dyn Wake>]>>,
}

/// Watchers to wake once the lock that produced them has been released.
pub(crate) struct PendingWakes(Option<Arc<[Arc<dyn Wake>]>>);

/// A watcher taken out by [`Watchers::remove`], with the list that held it.
pub(crate) struct Removed {
    _watcher: Option<Arc<dyn Wake>>,
    _old_list: Option<Arc<[Arc<dyn Wake>]>>,
}

impl Watchers {
    pub(crate) fn add(&mut self, watcher: Arc<dyn Wake>) -> WatchId {
        let id = WatchId::next();
        self.entries.push((id, watcher));
        // The old list only holds watchers that stay registered, so dropping
        // it here cannot release the last reference to one.
        drop(self.refresh());
        id
    }

    /// Drop the result after releasing the lock: the last reference to a
    /// watcher may run arbitrary code (release a Python object, say) when it
    /// goes, which must not happen while readers and writers are locked out.
    #[must_use = "drop it after releasing the lock"]
    pub(crate) fn remove(&mut self, id: WatchId) -> Removed {
        let Some(index) = self.entries.iter().position(|(entry_id, _)| *entry_id == id) else {
            return Removed { _watcher: None, _old_list: None };
        };
        let (_, watcher) = self.entries.swap_remove(index);
        Removed { _watcher: Some(watcher), _old_list: self.refresh() }
    }

    /// Call under the lock, then `wake` the result after releasing it.
    pub(crate) fn pending(&self) -> PendingWakes {
        PendingWakes(self.shared.clone())
    }

    fn refresh(&mut self) -> Option<Arc<[Arc<dyn Wake>]>> {
        let fresh = if self.entries.is_empty() {
            None
        } else {
            Some(self.entries.iter().map(|(_, watcher)| Arc::clone(watcher)).collect())
        };
        std::mem::replace(&mut self.shared, fresh)
    }
}

impl PendingWakes {
    pub(crate) fn wake(self) {
        if let Some(watchers) = self.0 {
            for watcher in watchers.iter() {
                watcher.wake();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Wake;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its wakes, for the single-threaded tests.
    #[derive(Default)]
    pub(crate) struct CountingWake(AtomicUsize);

    impl CountingWake {
        pub(crate) fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for CountingWake {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::CountingWake;
    use super::*;

    #[test]
    fn ids_are_distinct_across_lists() {
        let mut first = Watchers::default();
        let mut second = Watchers::default();
        let second_watcher = Arc::new(CountingWake::default());
        let a = first.add(Arc::new(CountingWake::default()));
        let b = second.add(second_watcher.clone());
        assert_ne!(a, b);
        // An id from another list removes nothing here.
        drop(second.remove(a));
        second.pending().wake();
        assert_eq!(second_watcher.count(), 1);
    }

    #[test]
    fn pending_wakes_exactly_the_registered_watchers() {
        let mut watchers = Watchers::default();
        let kept = Arc::new(CountingWake::default());
        let dropped = Arc::new(CountingWake::default());
        watchers.add(kept.clone());
        let dropped_id = watchers.add(dropped.clone());
        drop(watchers.remove(dropped_id));
        watchers.pending().wake();
        assert_eq!((kept.count(), dropped.count()), (1, 0));
    }

    #[test]
    fn no_watchers_means_nothing_pending() {
        let mut watchers = Watchers::default();
        assert!(watchers.pending().0.is_none());
        let id = watchers.add(Arc::new(CountingWake::default()));
        assert!(watchers.pending().0.is_some());
        drop(watchers.remove(id));
        assert!(watchers.pending().0.is_none());
    }
}
