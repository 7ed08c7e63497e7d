//! Ending promptly and cleanly on a signal: SIGINT, SIGTERM and SIGHUP (and SIGABRT, which an
//! allocation failure raises) remove every registered temporary file, say so on standard error
//! and exit with 128 + the signal number, from whatever the process was doing (thread start-up,
//! a blocking read, a write to a slow disk). Only async-signal-safe calls run in the handler:
//! `unlink`, `write` and `_exit`, over a fixed table of paths registered beforehand.

use std::ffi::{CString, c_char};
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};

/// How many temporary files can be registered at once. A split set with more parts than this
/// still has its temporary files removed on errors, but not by a signal.
const SLOTS: usize = 4096;

/// The registered paths: a fixed table, so that registering allocates nothing shared and the
/// handler reads plain atomics.
static TABLE: [AtomicPtr<c_char>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

fn slots() -> &'static [AtomicPtr<c_char>] {
    &TABLE
}

/// Registers a temporary file to be removed if a signal ends the process. Returns false when
/// the table is full (the file is then not cleaned up by a signal, only by the normal paths).
pub fn register_temp(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let p = c.into_raw();
    for s in slots() {
        if s.compare_exchange(std::ptr::null_mut(), p, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return true;
        }
    }
    // SAFETY: p came from CString::into_raw just above and was not stored.
    drop(unsafe { CString::from_raw(p) });
    false
}

/// Forgets a registered temporary file (it was renamed into place or removed).
pub fn unregister_temp(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let want = path.as_os_str().as_bytes();
    for s in slots() {
        let p = s.load(Ordering::SeqCst);
        if p.is_null() {
            continue;
        }
        // SAFETY: every non-null slot holds a pointer from CString::into_raw, never freed.
        let bytes = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
        if bytes == want {
            // The string is leaked on purpose: a handler running on another thread may be
            // reading it; a few bytes per temporary file are not worth that risk.
            let _ = s.compare_exchange(p, std::ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst);
            return;
        }
    }
}

/// Removes every registered temporary file (async-signal-safe).
fn remove_temps() {
    for s in slots() {
        let p = s.load(Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: p is a NUL-terminated path that is never freed; unlink is
            // async-signal-safe.
            unsafe { libc::unlink(p) };
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    crate::exec::CANCEL.store(true, Ordering::SeqCst);
    remove_temps();
    let msg: &[u8] = match sig {
        libc::SIGINT => b"\nerror: interrupted (SIGINT); temporary files removed\n",
        libc::SIGTERM => b"\nerror: interrupted (SIGTERM); temporary files removed\n",
        libc::SIGHUP => b"\nerror: interrupted (SIGHUP); temporary files removed\n",
        _ => b"\nerror: aborted; temporary files removed\n",
    };
    // SAFETY: write and _exit are async-signal-safe; a failed write is ignored.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(128 + sig);
    }
}

/// Installs the handlers, ignores SIGXFSZ (a file-size limit then shows up as a write error,
/// cleaned up like a full disk) and makes a panic remove the temporary files too.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGABRT] {
        // SAFETY: a zeroed sigaction is valid; the handler only makes async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    // SAFETY: setting a disposition has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        remove_temps();
        hook(info);
    }));
}

/// Holds SIGINT, SIGTERM and SIGHUP back on this thread while alive (a split set is renamed
/// into place as a whole); a signal that came meanwhile is delivered when it is dropped.
pub struct Deferred(libc::sigset_t);

impl Deferred {
    /// Blocks the signals until the guard is dropped.
    pub fn new() -> Deferred {
        // SAFETY: sigset operations on local, initialised sets.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, sig);
            }
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            Deferred(old)
        }
    }
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred::new()
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by new().
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}
