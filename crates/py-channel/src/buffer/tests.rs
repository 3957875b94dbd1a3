use super::*;
use crate::wake::testing::CountingWake;

/// What an export points at, read the way a Python memoryview would.
fn exported_bytes(ptr: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: every caller holds a live export of a buffer it keeps alive,
    // and `(ptr, len)` came from that export, so the bytes are initialised,
    // unmoved and not being written.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

#[test]
fn reads_what_was_written_in_order() {
    let buffer = Buffer::new(0);
    assert!(buffer.is_empty());
    buffer.write(b"hello ").unwrap();
    buffer.write(b"world").unwrap();
    assert_eq!((buffer.len(), buffer.available(), buffer.position()), (11, 11, 0));
    assert_eq!(buffer.take(Some(5)), b"hello");
    assert_eq!((buffer.available(), buffer.position()), (6, 5));
    assert_eq!(buffer.take(None), b" world");
    assert_eq!(buffer.take(None), b"");
    assert!(!buffer.is_empty());
}

#[test]
fn take_is_bounded_by_what_is_available() {
    let buffer = Buffer::new(0);
    buffer.write(b"abc").unwrap();
    assert_eq!(buffer.take(Some(0)), b"");
    assert_eq!(buffer.position(), 0);
    assert_eq!(buffer.take(Some(100)), b"abc");
    assert_eq!(buffer.position(), 3);
    assert_eq!(buffer.take(Some(1)), b"");
}

#[test]
fn capacity_hint_preallocates() {
    assert!(Buffer::new(4096).capacity() >= 4096);
    assert_eq!(Buffer::new(0).capacity(), 0);
}

#[test]
fn an_impossible_hint_is_ignored() {
    let buffer = Buffer::new(usize::MAX);
    buffer.write(b"still usable").unwrap();
    assert_eq!(buffer.take(None), b"still usable");
}

#[test]
fn close_marks_the_end() {
    let buffer = Buffer::new(0);
    buffer.write(b"tail").unwrap();
    assert!(!buffer.at_eof());
    buffer.close();
    buffer.close();
    assert!(buffer.is_closed());
    assert!(!buffer.at_eof(), "unread bytes remain");
    assert_eq!(buffer.write(b"more"), Err(BufferError::Closed));
    assert_eq!(buffer.write(b""), Err(BufferError::Closed));
    assert_eq!(buffer.take(None), b"tail");
    assert!(buffer.at_eof());
    buffer.seek(1);
    assert!(!buffer.at_eof(), "seeking back un-reads");
}

#[test]
fn open_and_fully_read_is_not_eof() {
    let buffer = Buffer::new(0);
    buffer.write(b"x").unwrap();
    buffer.take(None);
    assert!(!buffer.at_eof());
}

#[test]
fn seek_clamps_and_rereads() {
    let buffer = Buffer::new(0);
    buffer.write(b"0123456789").unwrap();
    assert_eq!(buffer.seek(100), 10);
    assert_eq!(buffer.available(), 0);
    assert_eq!(buffer.seek(3), 3);
    assert_eq!(buffer.take(Some(4)), b"3456");
    assert_eq!(buffer.seek(0), 0);
    assert_eq!(buffer.take(None), b"0123456789");
}

#[test]
fn line_len_waits_for_a_newline() {
    let buffer = Buffer::new(0);
    assert_eq!(buffer.line_len(), None);
    buffer.write(b"partial").unwrap();
    assert_eq!(buffer.line_len(), None);
    buffer.write(b" line\nnext").unwrap();
    assert_eq!(buffer.line_len(), Some(13));
    assert_eq!(buffer.take(Some(13)), b"partial line\n");
    assert_eq!(buffer.line_len(), None);
    buffer.write(b"\n").unwrap();
    assert_eq!(buffer.line_len(), Some(5));
}

#[test]
fn line_len_of_an_empty_line() {
    let buffer = Buffer::new(0);
    buffer.write(b"\n\nx\n").unwrap();
    assert_eq!(buffer.line_len(), Some(1));
    buffer.take(Some(1));
    assert_eq!(buffer.line_len(), Some(1));
    buffer.take(Some(1));
    assert_eq!(buffer.line_len(), Some(2));
}

#[test]
fn line_len_after_seeking_back_past_a_scanned_line() {
    let buffer = Buffer::new(0);
    buffer.write(b"ab\ncd").unwrap();
    buffer.seek(3);
    assert_eq!(buffer.line_len(), None, "nothing after the newline yet");
    buffer.seek(0);
    assert_eq!(buffer.line_len(), Some(3), "the earlier newline is found again");
    buffer.seek(1);
    assert_eq!(buffer.line_len(), Some(2));
}

#[test]
fn line_len_after_seeking_forward_past_the_known_newline() {
    let buffer = Buffer::new(0);
    buffer.write(b"a\nbc\nd").unwrap();
    assert_eq!(buffer.line_len(), Some(2));
    buffer.seek(3);
    assert_eq!(buffer.line_len(), Some(2));
    buffer.seek(5);
    assert_eq!(buffer.line_len(), None);
}

#[test]
fn find_matches_bytes_find() {
    let buffer = Buffer::new(0);
    buffer.write(b"abcabcaab").unwrap();
    assert_eq!(buffer.find(b"abc", 0, usize::MAX), Some(0));
    assert_eq!(buffer.find(b"abc", 1, usize::MAX), Some(3));
    assert_eq!(buffer.find(b"abc", 4, usize::MAX), None);
    assert_eq!(buffer.find(b"aab", 0, usize::MAX), Some(6), "restarts after a partial match");
    assert_eq!(buffer.find(b"aab", 0, 8), None, "the match must end by `end`");
    assert_eq!(buffer.find(b"aab", 0, 9), Some(6));
    assert_eq!(buffer.find(b"b", 9, usize::MAX), None);
    assert_eq!(buffer.find(b"abcabcaabX", 0, usize::MAX), None, "longer than the data");
    assert_eq!(buffer.find(b"c", 5, 2), None);
}

#[test]
fn find_is_absolute_not_relative_to_the_read_position() {
    let buffer = Buffer::new(0);
    buffer.write(b"xxyxy").unwrap();
    buffer.take(Some(3));
    assert_eq!(buffer.find(b"y", 0, usize::MAX), Some(2));
    assert_eq!(buffer.find(b"y", buffer.position(), usize::MAX), Some(4));
}

#[test]
fn find_of_an_empty_needle() {
    let buffer = Buffer::new(0);
    buffer.write(b"abc").unwrap();
    assert_eq!(buffer.find(b"", 0, usize::MAX), Some(0));
    assert_eq!(buffer.find(b"", 3, usize::MAX), Some(3));
    assert_eq!(buffer.find(b"", 4, usize::MAX), None);
    assert_eq!(buffer.find(b"", 2, 1), None, "as b'abc'.find(b'', 2, 1) == -1");
    assert_eq!(Buffer::new(0).find(b"", 0, 0), Some(0));
}

#[test]
fn export_pins_the_allocation() {
    let buffer = Buffer::new(8);
    let capacity = buffer.capacity();
    buffer.write(b"abc").unwrap();
    let (ptr, len) = buffer.export();
    assert_eq!((len, buffer.exports()), (3, 1));

    // Fits in the allocation: appended past the exported bytes.
    let room = vec![b'z'; capacity - 3];
    buffer.write(&room).unwrap();
    assert_eq!(buffer.len(), capacity);
    assert_eq!(exported_bytes(ptr, len), b"abc");

    // Would need to grow: refused, and nothing is written.
    assert_eq!(buffer.write(b"!"), Err(BufferError::Pinned));
    assert_eq!(buffer.len(), capacity);
    assert_eq!(buffer.write(b""), Ok(()), "nothing to fit");

    let (again, whole) = buffer.export();
    assert_eq!((again, whole, buffer.exports()), (ptr, capacity, 2));
    buffer.unexport();
    assert_eq!(buffer.write(b"!"), Err(BufferError::Pinned), "one export is still live");
    assert_eq!(exported_bytes(ptr, len), b"abc");
    buffer.unexport();

    assert_eq!(buffer.exports(), 0);
    buffer.write(b"!").unwrap();
    assert_eq!(buffer.len(), capacity + 1);
    assert_eq!(buffer.take(Some(3)), b"abc");
}

#[test]
fn closed_wins_over_pinned() {
    let buffer = Buffer::new(0);
    buffer.export();
    buffer.close();
    assert_eq!(buffer.write(b"x"), Err(BufferError::Closed));
    buffer.unexport();
}

#[test]
fn reads_and_seeks_while_exported_leave_the_bytes_alone() {
    let buffer = Buffer::new(0);
    buffer.write(b"line one\nline two\n").unwrap();
    let (ptr, len) = buffer.export();
    buffer.take(Some(4));
    buffer.line_len();
    buffer.seek(0);
    buffer.find(b"two", 0, usize::MAX);
    buffer.close();
    assert_eq!(exported_bytes(ptr, len), b"line one\nline two\n");
    buffer.unexport();
}

#[test]
fn watchers_woken_on_write_and_close_until_unwatched() {
    let buffer = Buffer::new(0);
    let first = Arc::new(CountingWake::default());
    let second = Arc::new(CountingWake::default());
    let first_id = buffer.watch(first.clone());
    buffer.watch(second.clone());

    buffer.write(b"x").unwrap();
    assert_eq!((first.count(), second.count()), (1, 1));
    buffer.write(b"").unwrap();
    buffer.take(None);
    buffer.seek(0);
    assert_eq!((first.count(), second.count()), (1, 1), "no new data, no wake");

    buffer.unwatch(first_id);
    buffer.write(b"y").unwrap();
    buffer.close();
    buffer.close();
    assert_eq!((first.count(), second.count()), (1, 3));
}

#[test]
fn refused_writes_do_not_wake() {
    let buffer = Buffer::new(0);
    let watcher = Arc::new(CountingWake::default());
    buffer.watch(watcher.clone());
    buffer.export();
    assert_eq!(buffer.write(b"x"), Err(BufferError::Pinned));
    buffer.unexport();
    buffer.close();
    assert_eq!(buffer.write(b"x"), Err(BufferError::Closed));
    assert_eq!(watcher.count(), 1, "only the close");
}

#[test]
fn find_bytes_edges() {
    assert_eq!(find_bytes(b"", b""), Some(0));
    assert_eq!(find_bytes(b"", b"a"), None);
    assert_eq!(find_bytes(b"a", b"a"), Some(0));
    assert_eq!(find_bytes(b"ba", b"a"), Some(1));
    assert_eq!(find_bytes(b"aaaa", b"aaa"), Some(0));
    assert_eq!(find_bytes(b"abab", b"ba"), Some(1));
    assert_eq!(find_bytes(b"ab", b"abc"), None);
}
