//! The FIFO behind term and byte channels.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::lock;
use crate::wake::{Wake, WatchId, Watchers};

/// Why [`Queue::send`] refused an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue holds too many bytes to take this item now.
    Busy,
    /// The queue was closed.
    Closed,
}

/// Why [`Queue::try_recv`] returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing queued yet; more may come.
    Empty,
    /// Closed and drained: nothing will ever come.
    Closed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Busy => "channel is full",
            SendError::Closed => "channel is closed",
        })
    }
}

impl std::error::Error for SendError {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Empty => "channel is empty",
            RecvError::Closed => "channel is closed",
        })
    }
}

impl std::error::Error for RecvError {}

/// A snapshot of a queue's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// Queued bytes.
    pub size: usize,
    /// Queued items.
    pub len: usize,
    /// The byte limit; 0 means unbounded.
    pub max_size: usize,
    pub closed: bool,
}

/// A FIFO of byte items (encoded Erlang terms or raw binaries), with
/// backpressure by queued bytes and watchers to wake blocked readers.
///
/// ```
/// use py_channel::{Queue, RecvError, SendError};
///
/// let queue = Queue::new(8);
/// queue.send(b"hello".to_vec()).unwrap();
/// // 5 + 4 bytes would exceed max_size 8 while the queue is not empty.
/// assert_eq!(queue.send(b"more".to_vec()), Err(SendError::Busy));
/// assert_eq!(queue.try_recv().unwrap(), b"hello");
/// assert_eq!(queue.try_recv(), Err(RecvError::Empty));
///
/// queue.send(b"last".to_vec()).unwrap();
/// assert!(queue.close());
/// // Items sent before close are still delivered, then Closed.
/// assert_eq!(queue.try_recv().unwrap(), b"last");
/// assert_eq!(queue.try_recv(), Err(RecvError::Closed));
/// ```
pub struct Queue {
    max_size: usize,
    state: Mutex<State>,
}

struct State {
    items: VecDeque<Vec<u8>>,
    size: usize,
    closed: bool,
    watchers: Watchers,
}

/// Once drained, a deque with more slots than this gives the excess back, so
/// one burst does not pin its peak memory for the channel's lifetime. High
/// enough that steady traffic never reallocates.
const RETAINED_SLOTS: usize = 1 << 16;

impl Queue {
    /// A queue holding at most `max_size` bytes (0 = unbounded).
    pub fn new(max_size: usize) -> Queue {
        Queue {
            max_size,
            state: Mutex::new(State { items: VecDeque::new(), size: 0, closed: false, watchers: Watchers::default() }),
        }
    }

    /// Busy when max_size > 0, the queue is not empty, and queued bytes +
    /// item.len() > max_size (a single oversized item still goes into an
    /// empty queue, else it could never be sent). Closed after close().
    /// Wakes every watcher (after releasing the lock).
    ///
    /// The item is dropped on error; [`Queue::send_or_return`] hands it back.
    pub fn send(&self, item: Vec<u8>) -> Result<(), SendError> {
        self.send_or_return(item).map_err(|(error, _)| error)
    }

    /// [`Queue::send`], but a refused item comes back with the error, so a
    /// caller retrying after `Busy` need not encode the term again.
    pub fn send_or_return(&self, item: Vec<u8>) -> Result<(), (SendError, Vec<u8>)> {
        let pending = {
            let mut state = lock(&self.state);
            if state.closed {
                return Err((SendError::Closed, item));
            }
            if self.max_size != 0 && !state.items.is_empty() && state.size.saturating_add(item.len()) > self.max_size {
                return Err((SendError::Busy, item));
            }
            state.size += item.len();
            state.items.push_back(item);
            state.watchers.pending()
        };
        pending.wake();
        Ok(())
    }

    /// Next item; Err(Empty) if none yet; Err(Closed) only once closed AND
    /// drained (items sent before close are still delivered).
    pub fn try_recv(&self) -> Result<Vec<u8>, RecvError> {
        let mut state = lock(&self.state);
        match state.items.pop_front() {
            Some(item) => {
                state.size -= item.len();
                if state.items.is_empty() && state.items.capacity() > RETAINED_SLOTS {
                    state.items.shrink_to(RETAINED_SLOTS);
                }
                Ok(item)
            }
            None if state.closed => Err(RecvError::Closed),
            None => Err(RecvError::Empty),
        }
    }

    /// Idempotent. Wakes every watcher. Returns true if this call closed it.
    ///
    /// Only the closing call wakes: later calls change nothing to report.
    pub fn close(&self) -> bool {
        let pending = {
            let mut state = lock(&self.state);
            if state.closed {
                return false;
            }
            state.closed = true;
            state.watchers.pending()
        };
        pending.wake();
        true
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    pub fn info(&self) -> QueueInfo {
        let state = lock(&self.state);
        QueueInfo { size: state.size, len: state.items.len(), max_size: self.max_size, closed: state.closed }
    }

    /// Registers a watcher woken on every later send and on close, until
    /// unwatch.
    ///
    /// A wake that a concurrent send had already picked up may still arrive
    /// just after `unwatch` returns (wakes run outside the lock).
    pub fn watch(&self, w: Arc<dyn Wake>) -> WatchId {
        lock(&self.state).watchers.add(w)
    }

    /// Removes a registration; unknown ids are ignored.
    pub fn unwatch(&self, id: WatchId) {
        let removed = lock(&self.state).watchers.remove(id);
        drop(removed);
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("info", &self.info()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake::testing::CountingWake;

    #[test]
    fn delivers_in_send_order() {
        let queue = Queue::new(0);
        for item in [&b"a"[..], b"bb", b"", b"ccc"] {
            queue.send(item.to_vec()).unwrap();
        }
        let received: Vec<Vec<u8>> = std::iter::from_fn(|| queue.try_recv().ok()).collect();
        assert_eq!(received, [&b"a"[..], b"bb", b"", b"ccc"]);
        assert_eq!(queue.try_recv(), Err(RecvError::Empty));
    }

    #[test]
    fn busy_only_past_max_size() {
        let queue = Queue::new(10);
        queue.send(vec![0; 4]).unwrap();
        queue.send(vec![0; 6]).unwrap(); // exactly max_size
        assert_eq!(queue.send(vec![]), Ok(()), "an empty item adds no bytes");
        assert_eq!(queue.send(vec![0; 1]), Err(SendError::Busy));
        queue.try_recv().unwrap();
        queue.send(vec![0; 4]).unwrap();
        assert_eq!(queue.info(), QueueInfo { size: 10, len: 3, max_size: 10, closed: false });
    }

    #[test]
    fn oversized_item_goes_into_an_empty_queue_only() {
        let queue = Queue::new(4);
        queue.send(vec![1; 100]).unwrap();
        assert_eq!(queue.send(vec![2; 1]), Err(SendError::Busy));
        assert_eq!(queue.send(vec![]), Err(SendError::Busy), "already over the limit");
        assert_eq!(queue.try_recv().unwrap(), vec![1; 100]);
        queue.send(vec![3; 5]).unwrap();
        assert_eq!(queue.send(vec![4; 100]), Err(SendError::Busy));
    }

    #[test]
    fn unbounded_never_busy() {
        let queue = Queue::new(0);
        for _ in 0..100 {
            queue.send(vec![0; 1000]).unwrap();
        }
        assert_eq!(queue.info().size, 100_000);
    }

    #[test]
    fn refused_item_comes_back() {
        let queue = Queue::new(1);
        queue.send(vec![1]).unwrap();
        assert_eq!(queue.send_or_return(vec![2, 3]), Err((SendError::Busy, vec![2, 3])));
        queue.close();
        assert_eq!(queue.send_or_return(vec![4]), Err((SendError::Closed, vec![4])));
    }

    #[test]
    fn close_then_drain() {
        let queue = Queue::new(0);
        queue.send(b"x".to_vec()).unwrap();
        queue.send(b"y".to_vec()).unwrap();
        assert!(queue.close());
        assert!(queue.is_closed());
        assert_eq!(queue.send(b"z".to_vec()), Err(SendError::Closed));
        assert_eq!(queue.try_recv().unwrap(), b"x");
        assert_eq!(queue.try_recv().unwrap(), b"y");
        assert_eq!(queue.try_recv(), Err(RecvError::Closed));
        assert_eq!(queue.try_recv(), Err(RecvError::Closed));
    }

    #[test]
    fn closed_wins_over_busy() {
        let queue = Queue::new(1);
        queue.send(vec![0]).unwrap();
        queue.close();
        assert_eq!(queue.send(vec![0]), Err(SendError::Closed));
    }

    #[test]
    fn close_is_idempotent() {
        let queue = Queue::new(0);
        let watcher = Arc::new(CountingWake::default());
        queue.watch(watcher.clone());
        assert!(queue.close());
        assert!(!queue.close());
        assert_eq!(watcher.count(), 1);
        assert!(queue.info().closed);
    }

    #[test]
    fn info_tracks_bytes_and_items() {
        let queue = Queue::new(100);
        assert_eq!(queue.info(), QueueInfo { size: 0, len: 0, max_size: 100, closed: false });
        queue.send(vec![0; 7]).unwrap();
        queue.send(vec![0; 3]).unwrap();
        assert_eq!(queue.info(), QueueInfo { size: 10, len: 2, max_size: 100, closed: false });
        queue.try_recv().unwrap();
        assert_eq!(queue.info(), QueueInfo { size: 3, len: 1, max_size: 100, closed: false });
    }

    #[test]
    fn watchers_woken_on_send_and_close_until_unwatched() {
        let queue = Queue::new(1);
        let first = Arc::new(CountingWake::default());
        let second = Arc::new(CountingWake::default());
        let first_id = queue.watch(first.clone());
        queue.watch(second.clone());
        queue.send(vec![1]).unwrap();
        assert_eq!((first.count(), second.count()), (1, 1));

        assert_eq!(queue.send(vec![2]), Err(SendError::Busy));
        queue.try_recv().unwrap();
        assert_eq!((first.count(), second.count()), (1, 1), "neither a refused send nor a receive wakes");

        queue.unwatch(first_id);
        queue.unwatch(first_id);
        queue.send(vec![3]).unwrap();
        queue.close();
        assert_eq!((first.count(), second.count()), (1, 3));
    }

    #[test]
    fn a_watcher_may_call_back_into_the_queue() {
        struct Drain(Arc<Queue>, Mutex<Vec<Vec<u8>>>);
        impl Wake for Drain {
            fn wake(&self) {
                while let Ok(item) = self.0.try_recv() {
                    lock(&self.1).push(item);
                }
            }
        }
        let queue = Arc::new(Queue::new(0));
        let drain = Arc::new(Drain(queue.clone(), Mutex::new(Vec::new())));
        let id = queue.watch(drain.clone());
        queue.send(b"a".to_vec()).unwrap();
        queue.send(b"b".to_vec()).unwrap();
        assert_eq!(*lock(&drain.1), [b"a".to_vec(), b"b".to_vec()]);
        // Break the Arc cycle between the queue and its watcher.
        queue.unwatch(id);
    }

    #[test]
    fn a_drained_burst_gives_back_its_slots() {
        let queue = Queue::new(0);
        for _ in 0..RETAINED_SLOTS * 2 {
            queue.send(Vec::new()).unwrap();
        }
        while queue.try_recv().is_ok() {}
        assert!(lock(&queue.state).items.capacity() <= RETAINED_SLOTS);
        queue.send(b"still works".to_vec()).unwrap();
        assert_eq!(queue.try_recv().unwrap(), b"still works");
    }
}
