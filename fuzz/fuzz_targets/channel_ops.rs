//! Arbitrary bytes -> a sequence of operations on a `Queue`, a `Buffer` and
//! a `SharedDict`, each checked against a plain std model.
//!
//! Whatever the input: no panic, every result equals the model's, and bytes
//! exported from the buffer stay in place and unchanged while exported.
//!
//! Layout: the queue's max_size, the buffer's capacity hint, then one
//! opcode byte per operation followed by its operands (a length-prefixed
//! slice is one length byte then up to that many bytes). Running out of
//! input ends the run.
#![no_main]

use std::collections::{HashMap, VecDeque};

use libfuzzer_sys::fuzz_target;
use py_channel::{Buffer, BufferError, Destroyed, Queue, QueueInfo, RecvError, SendError, SharedDict};

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    /// A length byte (reduced modulo `max_len + 1`), then that many bytes or
    /// as many as are left.
    fn slice(&mut self, max_len: u8) -> Option<&'a [u8]> {
        let len = usize::from(self.byte()? % (max_len + 1)).min(self.0.len());
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(taken)
    }

    /// 255 stands for "no limit", so bounds past the end get exercised.
    fn bound(&mut self) -> Option<usize> {
        Some(match self.byte()? {
            255 => usize::MAX,
            n => usize::from(n),
        })
    }
}

struct QueueModel {
    items: VecDeque<Vec<u8>>,
    max_size: usize,
    closed: bool,
}

impl QueueModel {
    fn size(&self) -> usize {
        self.items.iter().map(Vec::len).sum()
    }

    fn send(&mut self, item: Vec<u8>) -> Result<(), SendError> {
        if self.closed {
            Err(SendError::Closed)
        } else if self.max_size > 0 && !self.items.is_empty() && self.size() + item.len() > self.max_size {
            Err(SendError::Busy)
        } else {
            self.items.push_back(item);
            Ok(())
        }
    }

    fn recv(&mut self) -> Result<Vec<u8>, RecvError> {
        match self.items.pop_front() {
            Some(item) => Ok(item),
            None if self.closed => Err(RecvError::Closed),
            None => Err(RecvError::Empty),
        }
    }
}

#[derive(Default)]
struct BufferModel {
    data: Vec<u8>,
    position: usize,
    closed: bool,
    exports: Vec<(*const u8, usize)>,
}

impl BufferModel {
    fn find(&self, needle: &[u8], start: usize, end: usize) -> Option<usize> {
        let end = end.min(self.data.len());
        (start..=end).find(|&at| at + needle.len() <= end && self.data[at..at + needle.len()] == *needle)
    }
}

fn run(data: &[u8]) -> Option<()> {
    let mut input = Input(data);
    let max_size = usize::from(input.byte()?);
    let hint = usize::from(input.byte()?);

    let queue = Queue::new(max_size);
    let mut queue_model = QueueModel { items: VecDeque::new(), max_size, closed: false };
    let buffer = Buffer::new(hint);
    let mut buffer_model = BufferModel::default();
    let dict = SharedDict::new();
    let mut dict_model: Option<HashMap<Vec<u8>, Vec<u8>>> = Some(HashMap::new());
    let mut serial = 0u8;

    let outcome = (|| -> Option<()> {
        loop {
            match input.byte()? % 16 {
                0 => {
                    let len = usize::from(input.byte()? % 64);
                    serial = serial.wrapping_add(1);
                    let item = vec![serial; len];
                    assert_eq!(queue.send(item.clone()), queue_model.send(item));
                }
                1 => assert_eq!(queue.try_recv(), queue_model.recv()),
                2 => {
                    assert_eq!(queue.close(), !queue_model.closed);
                    queue_model.closed = true;
                }
                3 => {
                    let bytes = input.slice(32)?;
                    let room = buffer.capacity() - buffer_model.data.len();
                    let expected = if buffer_model.closed {
                        Err(BufferError::Closed)
                    } else if !buffer_model.exports.is_empty() && room < bytes.len() {
                        Err(BufferError::Pinned)
                    } else {
                        buffer_model.data.extend_from_slice(bytes);
                        Ok(())
                    };
                    assert_eq!(buffer.write(bytes), expected);
                }
                4 => {
                    let n = match input.byte()? {
                        255 => None,
                        n => Some(usize::from(n)),
                    };
                    let model = &mut buffer_model;
                    let count = n.unwrap_or(usize::MAX).min(model.data.len() - model.position);
                    assert_eq!(buffer.take(n), &model.data[model.position..model.position + count]);
                    model.position += count;
                }
                5 => {
                    let to = input.bound()?;
                    buffer_model.position = to.min(buffer_model.data.len());
                    assert_eq!(buffer.seek(to), buffer_model.position);
                }
                6 => {
                    let needle = input.slice(3)?;
                    let (start, end) = (input.bound()?, input.bound()?);
                    assert_eq!(buffer.find(needle, start, end), buffer_model.find(needle, start, end));
                }
                7 => {
                    let unread = &buffer_model.data[buffer_model.position..];
                    assert_eq!(buffer.line_len(), unread.iter().position(|&b| b == b'\n').map(|at| at + 1));
                }
                8 => {
                    buffer.close();
                    buffer_model.closed = true;
                }
                9 => {
                    let (ptr, len) = buffer.export();
                    assert_eq!(len, buffer_model.data.len());
                    if let Some(&(pinned, _)) = buffer_model.exports.first() {
                        assert_eq!(ptr, pinned, "the allocation moved while exported");
                    }
                    buffer_model.exports.push((ptr, len));
                }
                10 => {
                    if buffer_model.exports.pop().is_some() {
                        buffer.unexport();
                    }
                }
                11 => {
                    let key = input.slice(2)?.to_vec();
                    let value = input.slice(8)?.to_vec();
                    let expected = match dict_model.as_mut() {
                        Some(map) => {
                            map.insert(key.clone(), value.clone());
                            Ok(())
                        }
                        None => Err(Destroyed),
                    };
                    assert_eq!(dict.set(key, value), expected);
                }
                12 => {
                    let key = input.slice(2)?;
                    let expected = dict_model.as_ref().map(|map| map.get(key).cloned()).ok_or(Destroyed);
                    assert_eq!(dict.get(key).map(|value| value.map(|v| v.to_vec())), expected);
                }
                13 => {
                    let key = input.slice(2)?;
                    let expected = dict_model.as_mut().map(|map| map.remove(key).is_some()).ok_or(Destroyed);
                    assert_eq!(dict.delete(key), expected);
                }
                14 => {
                    let key = input.slice(2)?;
                    let model = dict_model.as_ref();
                    assert_eq!(dict.contains(key), model.map(|map| map.contains_key(key)).ok_or(Destroyed));
                    assert_eq!(dict.len(), model.map(HashMap::len).ok_or(Destroyed));
                    let mut keys = dict.keys();
                    if let Ok(keys) = keys.as_mut() {
                        keys.sort();
                    }
                    let mut expected: Result<Vec<Vec<u8>>, _> =
                        model.map(|map| map.keys().cloned().collect()).ok_or(Destroyed);
                    if let Ok(expected) = expected.as_mut() {
                        expected.sort();
                    }
                    assert_eq!(keys, expected);
                }
                _ => {
                    dict.destroy();
                    dict_model = None;
                }
            }
            check_invariants(&queue, &queue_model, &buffer, &buffer_model, &dict, &dict_model);
        }
    })();

    for _ in buffer_model.exports.drain(..) {
        buffer.unexport();
    }
    assert_eq!(buffer.exports(), 0);
    outcome
}

fn check_invariants(
    queue: &Queue,
    queue_model: &QueueModel,
    buffer: &Buffer,
    buffer_model: &BufferModel,
    dict: &SharedDict,
    dict_model: &Option<HashMap<Vec<u8>, Vec<u8>>>,
) {
    let expected = QueueInfo {
        size: queue_model.size(),
        len: queue_model.items.len(),
        max_size: queue_model.max_size,
        closed: queue_model.closed,
    };
    assert_eq!(queue.info(), expected);

    let data = &buffer_model.data;
    assert_eq!((buffer.len(), buffer.position()), (data.len(), buffer_model.position));
    assert_eq!(buffer.available(), data.len() - buffer_model.position);
    assert_eq!(buffer.at_eof(), buffer_model.closed && buffer_model.position == data.len());
    assert_eq!(buffer.exports(), buffer_model.exports.len());
    for &(ptr, len) in &buffer_model.exports {
        // SAFETY: this export is still live on `buffer`, which outlives the
        // check, and (ptr, len) is what it returned: by the export
        // invariant the bytes are initialised, unmoved and unchanged.
        let exported = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert_eq!(exported, &data[..len]);
    }

    assert_eq!(dict.is_destroyed(), dict_model.is_none());
}

fuzz_target!(|data: &[u8]| {
    run(data);
});
