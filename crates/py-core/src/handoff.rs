//! Handing work to a context thread: a lock-free queue plus a wake-up that
//! costs nothing while the thread is awake.
//!
//! Waking a parked thread costs tens of microseconds on our VMs, so after a
//! batch the consumer keeps polling for a short window, yielding the core
//! between polls (a busy spin would starve BEAM schedulers on 2 cores), and
//! only then parks. Producers make a syscall only when the `sleeping` flag
//! says the consumer is parked.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};

/// How long a consumer keeps polling after its queue runs dry.
pub const DEFAULT_POLL_WINDOW: Duration = Duration::from_micros(50);

/// A multi-producer, single-consumer queue with a cheap wake-up.
pub struct Mailbox<T> {
    queue: Injector<T>,
    sleeping: AtomicBool,
    closed: AtomicBool,
    consumer: OnceLock<Thread>,
    poll_window: Duration,
    /// A socket pair for a consumer that blocks in a poller (an event
    /// loop's `select`) instead of parking: wake-ups are written to it.
    /// Made on first use, closed by [`Mailbox::release_external`].
    external: Mutex<Option<Arc<(UnixStream, UnixStream)>>>,
    /// The consumer is blocked in a poller, not parked.
    external_mode: AtomicBool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox::new(DEFAULT_POLL_WINDOW)
    }
}

impl<T> Mailbox<T> {
    pub fn new(poll_window: Duration) -> Mailbox<T> {
        Mailbox {
            queue: Injector::new(),
            sleeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            consumer: OnceLock::new(),
            poll_window,
            external: Mutex::new(None),
            external_mode: AtomicBool::new(false),
        }
    }

    /// The descriptor a poller watches (readable) to learn that an item
    /// came while the consumer blocks in it; see [`Mailbox::sleep_external`].
    pub fn external_wake_fd(&self) -> Option<RawFd> {
        let mut external = self.external.lock().unwrap_or_else(|p| p.into_inner());
        if external.is_none() {
            let pair = UnixStream::pair().ok()?;
            pair.0.set_nonblocking(true).ok()?;
            pair.1.set_nonblocking(true).ok()?;
            *external = Some(Arc::new(pair));
        }
        external.as_ref().map(|pair| pair.0.as_raw_fd())
    }

    /// Closes the wake-up socket pair, if one was made (the consumer is
    /// done with pollers: its context ended).
    pub fn release_external(&self) {
        self.external_mode.store(false, Ordering::Release);
        self.external.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn external_pair(&self) -> Option<Arc<(UnixStream, UnixStream)>> {
        self.external.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Consumer side, before blocking in a poller that watches
    /// [`Mailbox::external_wake_fd`]: from now on a wake-up writes to that
    /// descriptor. Returns false (and stays awake) if an item is already
    /// queued or the mailbox is closed.
    pub fn sleep_external(&self) -> bool {
        if self.external_wake_fd().is_none() {
            return false;
        }
        self.external_mode.store(true, Ordering::Release);
        self.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !self.queue.is_empty() || self.is_closed() {
            self.end_external();
            return false;
        }
        true
    }

    /// Consumer side, after the poller returned: back to parking, with the
    /// wake-up bytes drained.
    pub fn end_external(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
        self.external_mode.store(false, Ordering::Release);
        if let Some(pair) = self.external_pair() {
            let mut buf = [0u8; 64];
            while matches!((&pair.0).read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    /// Declares the calling thread the consumer (the one `wait` parks).
    pub fn bind_consumer(&self) {
        let _ = self.consumer.set(thread::current());
    }

    /// Enqueues `item`; gives it back if the mailbox is closed.
    #[inline]
    pub fn push(&self, item: T) -> Result<(), T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(item);
        }
        self.queue.push(item);
        // Pairs with the fence in `wait`: either the consumer sees the item
        // before parking, or we see `sleeping` and wake it.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            self.wake();
        }
        Ok(())
    }

    /// Like `push`, but accepts the item even when closed (used for replies
    /// and releases that must reach a consumer still draining).
    #[inline]
    pub fn push_always(&self, item: T) {
        self.queue.push(item);
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            self.wake();
        }
    }

    fn wake(&self) {
        if self.external_mode.load(Ordering::Acquire) {
            if let Some(pair) = self.external_pair() {
                // A full socket already holds a wake-up.
                let _ = (&pair.1).write(&[1]);
                return;
            }
        }
        if let Some(t) = self.consumer.get() {
            t.unpark();
        }
    }

    /// Takes one item if there is one.
    #[inline]
    pub fn try_pop(&self) -> Option<T> {
        loop {
            match self.queue.steal() {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Refuses further `push`es and wakes the consumer.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.sleeping.store(false, Ordering::Release);
        self.wake();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Consumer side: the next item, polling for the window and then
    /// parking. `None` once the mailbox is closed and empty.
    pub fn wait(&self) -> Option<T> {
        self.wait_until(|| false)
    }

    /// Like `wait`, but also returns `None` as soon as `stop()` is true
    /// (checked after every wake-up; whoever makes it true must also `poke`).
    pub fn wait_until(&self, stop: impl FnMut() -> bool) -> Option<T> {
        self.wait_until_deadline(stop, None)
    }

    /// Like `wait_until`, also returning `None` once `deadline` has passed.
    pub fn wait_until_deadline(&self, mut stop: impl FnMut() -> bool, deadline: Option<Instant>) -> Option<T> {
        let start = Instant::now();
        let expired = || deadline.is_some_and(|d| Instant::now() >= d);
        loop {
            if let Some(t) = self.try_pop() {
                return Some(t);
            }
            if stop() || self.is_closed() || expired() {
                return None;
            }
            if start.elapsed() < self.poll_window {
                thread::yield_now();
                continue;
            }
            self.sleeping.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if let Some(t) = self.try_pop() {
                self.sleeping.store(false, Ordering::Relaxed);
                return Some(t);
            }
            if stop() || self.is_closed() {
                self.sleeping.store(false, Ordering::Relaxed);
                return None;
            }
            match deadline {
                Some(d) => thread::park_timeout(d.saturating_duration_since(Instant::now())),
                None => thread::park(),
            }
            self.sleeping.store(false, Ordering::Relaxed);
        }
    }

    /// Wakes the consumer without an item (after changing what its `stop`
    /// condition reads).
    pub fn poke(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.swap(false, Ordering::AcqRel) {
            self.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_item_arrives_once_in_order_per_producer() {
        let mb = Arc::new(Mailbox::<(usize, usize)>::new(Duration::from_micros(10)));
        let consumer = {
            let mb = mb.clone();
            thread::spawn(move || {
                mb.bind_consumer();
                let mut next = [0usize; 4];
                let mut total = 0;
                while let Some((p, i)) = mb.wait() {
                    assert_eq!(next[p], i, "producer {p} out of order");
                    next[p] += 1;
                    total += 1;
                }
                total
            })
        };
        // Give the consumer a chance to register before producers start: a
        // wake-up sent before registration is not lost either, because the
        // consumer polls the queue before every park.
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let mb = mb.clone();
                thread::spawn(move || {
                    for i in 0..10_000 {
                        mb.push((p, i)).unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        mb.close();
        assert_eq!(consumer.join().unwrap(), 40_000);
    }

    #[test]
    fn closed_mailbox_refuses_pushes() {
        let mb = Mailbox::<u8>::default();
        mb.close();
        assert_eq!(mb.push(1), Err(1));
        assert_eq!(mb.wait(), None);
    }

    #[test]
    fn a_consumer_blocked_in_a_poller_is_woken_through_its_socket() {
        let mb = Mailbox::<u8>::new(Duration::ZERO);
        let fd = mb.external_wake_fd().expect("socket pair");
        assert!(mb.sleep_external());
        mb.push(1).unwrap();
        // The wake-up is a byte on the socket, which a poller would see.
        let mut byte = [0u8; 1];
        // SAFETY: `fd` is the mailbox's open, non-blocking reader.
        let n = unsafe { read(fd, byte.as_mut_ptr(), 1) };
        assert_eq!(n, 1);
        mb.end_external();
        assert_eq!(mb.try_pop(), Some(1));
        // With an item queued the consumer does not go to sleep.
        mb.push(2).unwrap();
        assert!(!mb.sleep_external());
    }

    extern "C" {
        fn read(fd: i32, buf: *mut u8, n: usize) -> isize;
    }

    #[test]
    fn a_parked_consumer_is_woken() {
        let mb = Arc::new(Mailbox::<u8>::new(Duration::ZERO));
        let (tx, rx) = std::sync::mpsc::channel();
        let c = {
            let mb = mb.clone();
            thread::spawn(move || {
                mb.bind_consumer();
                tx.send(()).unwrap();
                mb.wait()
            })
        };
        rx.recv().unwrap();
        mb.push(7).unwrap();
        assert_eq!(c.join().unwrap(), Some(7));
    }
}
