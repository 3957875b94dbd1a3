//! Waiting on an epoll descriptor (the one inside Python's
//! `selectors.EpollSelector`) with a nanosecond timeout: `epoll_pwait2`
//! where the kernel has it, else `epoll_wait`, whose timeout is whole
//! milliseconds (rounded up, as the stdlib selector does). The raw
//! system calls of the event loop are here and nowhere else.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One readiness event: the descriptor and epoll's event bits.
pub type Event = libc::epoll_event;

/// An empty event, to size buffers with.
pub const EMPTY: Event = libc::epoll_event { events: 0, u64: 0 };

/// The descriptor an event is for (asyncio's selectors store the fd in
/// the event's data).
pub fn event_fd(event: &Event) -> RawFd {
    event.u64 as RawFd
}

/// Whether the event reports the descriptor readable (or hung up or
/// failed: anything but "writable only", as the stdlib selector reads it).
pub fn reports_read(event: &Event) -> bool {
    event.events & !(libc::EPOLLOUT as u32) != 0
}

/// Whether the event reports the descriptor writable (anything but
/// "readable only").
pub fn reports_write(event: &Event) -> bool {
    event.events & !(libc::EPOLLIN as u32) != 0
}

static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

/// Waits on `epfd` for up to `timeout` (`None`: until an event), filling
/// `events`; returns how many it filled. An interrupted wait returns 0.
pub fn wait(epfd: RawFd, events: &mut [Event], timeout: Option<Duration>) -> io::Result<usize> {
    let max = events.len().min(i32::MAX as usize) as i32;
    if !NO_PWAIT2.load(Ordering::Relaxed) {
        let spec = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let spec_ptr = spec.as_ref().map_or(std::ptr::null(), |s| s as *const libc::timespec);
        // SAFETY: `events` is a writable buffer of `max` events; `spec_ptr`
        // is null or points at a timespec alive for the call; no signal mask.
        let n = unsafe {
            libc::syscall(libc::SYS_epoll_pwait2, epfd, events.as_mut_ptr(), max, spec_ptr, std::ptr::null::<u8>(), 0)
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) => NO_PWAIT2.store(true, Ordering::Relaxed),
            Some(libc::EINTR) => return Ok(0),
            _ => return Err(err),
        }
    }
    let millis = match timeout {
        None => -1,
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    };
    // SAFETY: as above, with a plain millisecond timeout.
    let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), max, millis) };
    if n >= 0 {
        return Ok(n as usize);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINTR) {
        Ok(0)
    } else {
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn epoll_with(fd: RawFd, bits: i32) -> RawFd {
        // SAFETY: plain system calls on descriptors we own.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            assert!(ep >= 0);
            let mut ev = libc::epoll_event { events: bits as u32, u64: fd as u64 };
            assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev), 0);
            ep
        }
    }

    #[test]
    fn reports_readiness_and_times_out() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let ep = epoll_with(a.as_raw_fd(), libc::EPOLLIN);
        let mut buf = [EMPTY; 4];
        assert_eq!(wait(ep, &mut buf, Some(Duration::from_micros(200))).unwrap(), 0);
        assert_eq!(wait(ep, &mut buf, Some(Duration::ZERO)).unwrap(), 0);
        b.write_all(b"x").unwrap();
        assert_eq!(wait(ep, &mut buf, None).unwrap(), 1);
        assert_eq!(event_fd(&buf[0]), a.as_raw_fd());
        assert!(reports_read(&buf[0]) && !reports_write(&buf[0]));
        // SAFETY: our descriptor.
        unsafe { libc::close(ep) };
    }

    #[test]
    fn a_closed_peer_reads_as_both() {
        let (a, b) = UnixStream::pair().unwrap();
        let ep = epoll_with(a.as_raw_fd(), libc::EPOLLIN | libc::EPOLLOUT);
        drop(b);
        let mut buf = [EMPTY; 4];
        assert_eq!(wait(ep, &mut buf, Some(Duration::from_millis(100))).unwrap(), 1);
        assert!(reports_read(&buf[0]) && reports_write(&buf[0]));
        assert!(wait(-1, &mut buf, Some(Duration::ZERO)).is_err());
        // SAFETY: our descriptor.
        unsafe { libc::close(ep) };
    }
}
