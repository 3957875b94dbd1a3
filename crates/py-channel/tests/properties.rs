//! Each type against a plain std model under random operation sequences.

use std::collections::{HashMap, VecDeque};

use proptest::prelude::*;
use py_channel::{Buffer, BufferError, Destroyed, Queue, QueueInfo, RecvError, SendError, SharedDict};

#[derive(Clone, Debug)]
enum QueueOp {
    Send(usize),
    Recv,
    Close,
}

fn queue_op() -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        10 => (0..40usize).prop_map(QueueOp::Send),
        8 => Just(QueueOp::Recv),
        1 => Just(QueueOp::Close),
    ]
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

#[derive(Clone, Debug)]
enum BufferOp {
    Write(Vec<u8>),
    Take(Option<usize>),
    Seek(usize),
    Find(Vec<u8>, usize, usize),
    LineLen,
    Close,
    Export,
    Unexport,
}

/// Few distinct bytes, so needles and newlines match often.
fn text(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"ab\n".to_vec()), 0..max_len)
}

fn buffer_op() -> impl Strategy<Value = BufferOp> {
    prop_oneof![
        6 => text(12).prop_map(BufferOp::Write),
        3 => prop::option::of(0..10usize).prop_map(BufferOp::Take),
        2 => (0..60usize).prop_map(BufferOp::Seek),
        3 => (text(4), 0..60usize, 0..70usize).prop_map(|(needle, start, end)| BufferOp::Find(needle, start, end)),
        3 => Just(BufferOp::LineLen),
        2 => Just(BufferOp::Export),
        2 => Just(BufferOp::Unexport),
        1 => Just(BufferOp::Close),
    ]
}

/// `bytes.find(needle, start, end)` for non-negative bounds, spelled out.
fn model_find(data: &[u8], needle: &[u8], start: usize, end: usize) -> Option<usize> {
    let end = end.min(data.len());
    (start..=end).find(|&at| at + needle.len() <= end && data[at..at + needle.len()] == *needle)
}

fn read_export(ptr: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: only called for exports that are still live on a buffer the
    // test holds, with the (ptr, len) that export returned: the bytes are
    // initialised and, by the export invariant, unmoved and unchanged.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

#[derive(Clone, Debug)]
enum DictOp {
    Set(Vec<u8>, Vec<u8>),
    Get(Vec<u8>),
    Delete(Vec<u8>),
    Contains(Vec<u8>),
    Keys,
    Len,
}

fn dict_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"ab".to_vec()), 0..3)
}

fn dict_op() -> impl Strategy<Value = DictOp> {
    prop_oneof![
        6 => (dict_key(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(k, v)| DictOp::Set(k, v)),
        5 => dict_key().prop_map(DictOp::Get),
        3 => dict_key().prop_map(DictOp::Delete),
        2 => dict_key().prop_map(DictOp::Contains),
        1 => Just(DictOp::Keys),
        1 => Just(DictOp::Len),
    ]
}

fn check_queue(max_size: usize, ops: Vec<QueueOp>) -> Result<(), TestCaseError> {
    let queue = Queue::new(max_size);
    let mut model = QueueModel { items: VecDeque::new(), max_size, closed: false };
    for (serial, op) in ops.into_iter().enumerate() {
        match op {
            QueueOp::Send(len) => {
                let item: Vec<u8> = (0..len).map(|i| (serial + i) as u8).collect();
                prop_assert_eq!(queue.send(item.clone()), model.send(item));
            }
            QueueOp::Recv => prop_assert_eq!(queue.try_recv(), model.recv()),
            QueueOp::Close => {
                prop_assert_eq!(queue.close(), !model.closed);
                model.closed = true;
            }
        }
        // Compared after every operation rather than as an operation of its own.
        let expected = QueueInfo { size: model.size(), len: model.items.len(), max_size, closed: model.closed };
        prop_assert_eq!(queue.info(), expected);
        prop_assert_eq!(queue.is_closed(), model.closed);
    }
    Ok(())
}

fn check_buffer(hint: usize, ops: Vec<BufferOp>) -> Result<(), TestCaseError> {
    let buffer = Buffer::new(hint);
    let mut data: Vec<u8> = Vec::new();
    let mut position = 0;
    let mut closed = false;
    let mut live_exports: Vec<(*const u8, usize)> = Vec::new();
    for op in ops {
        match op {
            BufferOp::Write(bytes) => {
                let room = buffer.capacity() - data.len();
                let expected = if closed {
                    Err(BufferError::Closed)
                } else if !live_exports.is_empty() && room < bytes.len() {
                    Err(BufferError::Pinned)
                } else {
                    data.extend_from_slice(&bytes);
                    Ok(())
                };
                prop_assert_eq!(buffer.write(&bytes), expected);
            }
            BufferOp::Take(n) => {
                let count = n.unwrap_or(usize::MAX).min(data.len() - position);
                prop_assert_eq!(buffer.take(n), &data[position..position + count]);
                position += count;
            }
            BufferOp::Seek(to) => {
                position = to.min(data.len());
                prop_assert_eq!(buffer.seek(to), position);
            }
            BufferOp::Find(needle, start, end) => {
                prop_assert_eq!(buffer.find(&needle, start, end), model_find(&data, &needle, start, end));
            }
            BufferOp::LineLen => {
                let expected = data[position..].iter().position(|&b| b == b'\n').map(|at| at + 1);
                prop_assert_eq!(buffer.line_len(), expected);
            }
            BufferOp::Close => {
                buffer.close();
                closed = true;
            }
            BufferOp::Export => {
                let (ptr, len) = buffer.export();
                prop_assert_eq!(len, data.len());
                if let Some(&(pinned, _)) = live_exports.first() {
                    prop_assert_eq!(ptr, pinned, "the allocation moved while exported");
                }
                live_exports.push((ptr, len));
            }
            BufferOp::Unexport => {
                if live_exports.pop().is_some() {
                    buffer.unexport();
                }
            }
        }
        for &(ptr, len) in &live_exports {
            prop_assert_eq!(read_export(ptr, len), &data[..len]);
        }
        prop_assert_eq!(buffer.exports(), live_exports.len());
        prop_assert_eq!((buffer.len(), buffer.is_empty()), (data.len(), data.is_empty()));
        prop_assert_eq!((buffer.position(), buffer.available()), (position, data.len() - position));
        prop_assert_eq!((buffer.is_closed(), buffer.at_eof()), (closed, closed && position == data.len()));
    }
    for _ in live_exports {
        buffer.unexport();
    }
    prop_assert_eq!(buffer.seek(0), 0);
    prop_assert_eq!(buffer.take(None), data);
    Ok(())
}

fn check_shared_dict(ops: Vec<DictOp>, destroy_at: Option<usize>) -> Result<(), TestCaseError> {
    let dict = SharedDict::new();
    let mut model: Option<HashMap<Vec<u8>, Vec<u8>>> = Some(HashMap::new());
    for (index, op) in ops.into_iter().enumerate() {
        if destroy_at == Some(index) {
            dict.destroy();
            model = None;
        }
        match op {
            DictOp::Set(key, value) => {
                let expected = match model.as_mut() {
                    Some(map) => {
                        map.insert(key.clone(), value.clone());
                        Ok(())
                    }
                    None => Err(Destroyed),
                };
                prop_assert_eq!(dict.set(key, value), expected);
            }
            DictOp::Get(key) => {
                let expected = model.as_ref().map(|map| map.get(&key).cloned()).ok_or(Destroyed);
                prop_assert_eq!(dict.get(&key).map(|value| value.map(|v| v.to_vec())), expected);
            }
            DictOp::Delete(key) => {
                let expected = model.as_mut().map(|map| map.remove(&key).is_some()).ok_or(Destroyed);
                prop_assert_eq!(dict.delete(&key), expected);
            }
            DictOp::Contains(key) => {
                let expected = model.as_ref().map(|map| map.contains_key(&key)).ok_or(Destroyed);
                prop_assert_eq!(dict.contains(&key), expected);
            }
            DictOp::Keys => {
                let sorted = |mut keys: Vec<Vec<u8>>| {
                    keys.sort();
                    keys
                };
                let expected = model.as_ref().map(|map| sorted(map.keys().cloned().collect())).ok_or(Destroyed);
                prop_assert_eq!(dict.keys().map(sorted), expected);
            }
            DictOp::Len => {
                prop_assert_eq!(dict.len(), model.as_ref().map(HashMap::len).ok_or(Destroyed));
                prop_assert_eq!(dict.is_empty(), model.as_ref().map(HashMap::is_empty).ok_or(Destroyed));
            }
        }
        prop_assert_eq!(dict.is_destroyed(), model.is_none());
    }
    Ok(())
}

proptest! {
    #[test]
    fn queue_behaves_like_a_vecdeque(
        max_size in prop_oneof![Just(0usize), 1..100usize],
        ops in prop::collection::vec(queue_op(), 0..120),
    ) {
        check_queue(max_size, ops)?;
    }

    #[test]
    fn buffer_behaves_like_a_vec(hint in 0..32usize, ops in prop::collection::vec(buffer_op(), 0..120)) {
        check_buffer(hint, ops)?;
    }

    #[test]
    fn shared_dict_behaves_like_a_hashmap(
        ops in prop::collection::vec(dict_op(), 0..120),
        destroy_at in prop::option::of(0..150usize),
    ) {
        check_shared_dict(ops, destroy_at)?;
    }
}
