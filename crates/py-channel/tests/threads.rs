//! Many threads at once, with readers that block on a watcher the way the
//! Python and NIF glue will.

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use py_channel::{Buffer, Queue, RecvError, SharedDict, Wake};

/// A wake counter that a thread can block on.
///
/// A reader notes the count, checks for work, and if there is none waits
/// for the count to move: a wake between the check and the wait is not lost.
/// A wake the queue or buffer fails to deliver would leave the reader
/// waiting forever; the watchdog turns that hang into a failure. It bounds
/// liveness only: every wait here ends within milliseconds when correct.
#[derive(Default)]
struct Signal {
    wakes: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    fn wakes(&self) -> u64 {
        *self.wakes.lock().unwrap()
    }

    fn wait_past(&self, seen: u64) {
        let guard = self.wakes.lock().unwrap();
        let (guard, waited) = self.changed.wait_timeout_while(guard, WATCHDOG, |wakes| *wakes == seen).unwrap();
        drop(guard);
        assert!(!waited.timed_out(), "no wake came: one was lost");
    }
}

impl Wake for Signal {
    fn wake(&self) {
        *self.wakes.lock().unwrap() += 1;
        self.changed.notify_all();
    }
}

const WATCHDOG: Duration = Duration::from_secs(120);

const SENDERS: u32 = 4;
const RECEIVERS: usize = 4;
const PER_SENDER: u32 = 25_000;
const ROUNDS: u32 = 10;
const PER_ROUND: u32 = PER_SENDER / ROUNDS;

fn item(sender: u32, serial: u32) -> Vec<u8> {
    [sender.to_be_bytes(), serial.to_be_bytes()].concat()
}

fn parse(item: &[u8]) -> (u32, u32) {
    let (sender, serial) = item.split_at(4);
    (u32::from_be_bytes(sender.try_into().unwrap()), u32::from_be_bytes(serial.try_into().unwrap()))
}

#[test]
fn every_item_received_exactly_once_and_close_ends_all_receivers() {
    let queue = Arc::new(Queue::new(0));
    // Sending goes in rounds, and the next round starts only once every
    // item so far has been received. Between rounds every receiver finds
    // the queue empty and waits, so each round is delivered only if sends
    // wake them; and the close comes last, so it cannot stand in for a
    // lost wake by waking and draining everyone.
    let round_start = Arc::new(Barrier::new(SENDERS as usize + 1));
    let received_count = Arc::new(Signal::default());

    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let received_count = Arc::clone(&received_count);
            thread::spawn(move || {
                let signal = Arc::new(Signal::default());
                let watch = queue.watch(signal.clone());
                let mut received = Vec::new();
                loop {
                    let seen = signal.wakes();
                    match queue.try_recv() {
                        Ok(item) => {
                            received.push(parse(&item));
                            received_count.wake();
                        }
                        Err(RecvError::Empty) => signal.wait_past(seen),
                        Err(RecvError::Closed) => break,
                    }
                }
                queue.unwatch(watch);
                received
            })
        })
        .collect();

    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let queue = Arc::clone(&queue);
            let round_start = Arc::clone(&round_start);
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    round_start.wait();
                    for serial in round * PER_ROUND..(round + 1) * PER_ROUND {
                        queue.send(item(sender, serial)).unwrap();
                    }
                }
            })
        })
        .collect();

    for round in 0..ROUNDS {
        round_start.wait();
        let received_by_now = u64::from(SENDERS * (round + 1) * PER_ROUND);
        loop {
            let seen = received_count.wakes();
            if seen == received_by_now {
                break;
            }
            received_count.wait_past(seen);
        }
    }
    for sender in senders {
        sender.join().unwrap();
    }
    assert!(queue.close());
    let per_receiver: Vec<Vec<(u32, u32)>> = receivers.into_iter().map(|r| r.join().unwrap()).collect();

    for received in &per_receiver {
        // The queue is FIFO, so what one receiver got from one sender is in
        // the order that sender sent it.
        let mut last_serial: HashMap<u32, u32> = HashMap::new();
        for &(sender, serial) in received {
            if let Some(previous) = last_serial.insert(sender, serial) {
                assert!(previous < serial, "sender {sender}: {serial} after {previous}");
            }
        }
    }
    let mut all: Vec<(u32, u32)> = per_receiver.into_iter().flatten().collect();
    all.sort_unstable();
    let expected: Vec<(u32, u32)> =
        (0..SENDERS).flat_map(|sender| (0..PER_SENDER).map(move |serial| (sender, serial))).collect();
    assert_eq!(all.len(), expected.len(), "lost or duplicated items");
    assert!(all == expected, "received a different set of items than was sent");
    assert_eq!(queue.info().len, 0);
}

#[test]
fn close_wakes_receivers_blocked_on_an_empty_queue() {
    let queue = Arc::new(Queue::new(0));
    let ready = Arc::new(Barrier::new(RECEIVERS + 1));
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let ready = Arc::clone(&ready);
            thread::spawn(move || {
                let signal = Arc::new(Signal::default());
                queue.watch(signal.clone());
                ready.wait();
                loop {
                    let seen = signal.wakes();
                    match queue.try_recv() {
                        Ok(_) => panic!("nothing was sent"),
                        Err(RecvError::Empty) => signal.wait_past(seen),
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        })
        .collect();
    ready.wait();
    queue.close();
    for receiver in receivers {
        receiver.join().unwrap();
    }
}

#[test]
fn a_reader_gets_every_line_a_writer_sends_in_pieces() {
    let buffer = Arc::new(Buffer::new(0));
    let signal = Arc::new(Signal::default());
    buffer.watch(signal.clone());
    let lines: Vec<Vec<u8>> = (0..2_000).map(|n| format!("line {n} {}\n", "x".repeat(n % 50)).into_bytes()).collect();

    let all_read = Arc::new(Barrier::new(2));
    let writer = {
        let buffer = Arc::clone(&buffer);
        let all_read = Arc::clone(&all_read);
        let stream = lines.concat();
        thread::spawn(move || {
            for piece in stream.chunks(7) {
                buffer.write(piece).unwrap();
            }
            // Not before: the close would wake a reader that missed a write.
            all_read.wait();
            buffer.close();
        })
    };

    let mut read = Vec::new();
    while read.len() < lines.len() {
        let seen = signal.wakes();
        match buffer.line_len() {
            Some(len) => read.push(buffer.take(Some(len))),
            None => signal.wait_past(seen),
        }
    }
    assert!(!buffer.at_eof());
    all_read.wait();
    loop {
        let seen = signal.wakes();
        if buffer.at_eof() {
            break;
        }
        signal.wait_past(seen);
    }
    writer.join().unwrap();
    assert!(read == lines, "lines differ");
}

#[test]
fn readers_see_only_values_that_were_set() {
    let dict = Arc::new(SharedDict::new());
    let start = Arc::new(Barrier::new(4));
    let writers: Vec<_> = (0..2u8)
        .map(|writer| {
            let dict = Arc::clone(&dict);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for n in 0..5_000u32 {
                    let key = [writer, (n % 16) as u8];
                    dict.set(key.to_vec(), [&key[..], &n.to_be_bytes()].concat()).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2u8)
        .map(|_| {
            let dict = Arc::clone(&dict);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for n in 0..10_000u32 {
                    let key = [(n % 2) as u8, (n % 16) as u8];
                    if let Some(value) = dict.get(&key).unwrap() {
                        assert_eq!(&value[..2], &key, "value stored under another key");
                    }
                }
            })
        })
        .collect();
    for handle in writers.into_iter().chain(readers) {
        handle.join().unwrap();
    }
    assert_eq!(dict.len(), Ok(32));
    for writer in 0..2u8 {
        for slot in 0..16u8 {
            let value = dict.get(&[writer, slot]).unwrap().unwrap();
            assert_eq!(u32::from_be_bytes(value[2..].try_into().unwrap()) % 16, u32::from(slot));
            assert!(u32::from_be_bytes(value[2..].try_into().unwrap()) >= 5_000 - 16, "last write wins");
        }
    }
}
