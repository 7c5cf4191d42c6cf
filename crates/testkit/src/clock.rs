//! Wall clocks set off by hand. A process started under a [`FakeClock`]
//! (a private `redis-server`, a `thoonk` child process) reads the real time
//! moved by the clock's offset, which the test changes while it runs: to
//! make a lease run out or a delayed job fall due without waiting, or to
//! give one process a clock that is wrong.
//!
//! It is libfaketime (Debian: `apt-get install faketime`), preloaded, with
//! the offset in a file it reads at every call. Only the wall clock moves:
//! monotonic clocks, which time-outs and sleeps read, run as they do.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// An offset from the real wall clock, for the processes started under it.
#[derive(Debug)]
pub struct FakeClock {
    /// The offset as libfaketime reads it, e.g. `+12.5` (seconds).
    file: PathBuf,
    offset_ms: AtomicI64,
}

impl FakeClock {
    /// A clock `offset_ms` off the real one (negative: behind), its file in
    /// `dir`.
    pub fn new(dir: &Path, offset_ms: i64) -> io::Result<Self> {
        let clock = FakeClock {
            file: dir.join("faketime.rc"),
            offset_ms: AtomicI64::new(offset_ms),
        };
        clock.write(offset_ms)?;
        Ok(clock)
    }

    /// Moves the clock forward by `by`, at once, for every process under it.
    pub fn advance(&self, by: Duration) -> io::Result<()> {
        let by = i64::try_from(by.as_millis()).map_err(io::Error::other)?;
        let offset = self.offset_ms.fetch_add(by, Ordering::SeqCst) + by;
        self.write(offset)
    }

    /// Sets the offset from the real clock, in ms (negative: behind).
    pub fn set_offset_ms(&self, offset_ms: i64) -> io::Result<()> {
        self.offset_ms.store(offset_ms, Ordering::SeqCst);
        self.write(offset_ms)
    }

    /// The offset from the real clock, in ms.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Makes `command` run under this clock.
    pub fn apply(&self, command: &mut Command) -> io::Result<()> {
        command
            .env("LD_PRELOAD", preload()?)
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            // Read the file at every call, so a change applies at once.
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        Ok(())
    }

    fn write(&self, offset_ms: i64) -> io::Result<()> {
        // Written aside then renamed: a process reading it meanwhile sees
        // the old offset or the new one, never half of one.
        let sign = if offset_ms < 0 { '-' } else { '+' };
        let ms = offset_ms.unsigned_abs();
        let text = format!("{sign}{}.{:03}\n", ms / 1000, ms % 1000);
        let aside = self.file.with_extension("new");
        std::fs::write(&aside, text)?;
        std::fs::rename(aside, &self.file)
    }
}

/// The libraries to preload: libfaketime, after glibc's debugging malloc.
/// (Debian's `redis-server` allocates with jemalloc, whose start reads the
/// clock before libfaketime is ready, and libfaketime gives up; glibc's
/// malloc, preloaded first, takes jemalloc's place. Other programs do not
/// mind it.)
fn preload() -> io::Result<String> {
    let faketime = find(
        "THOONK_LIBFAKETIME",
        &["faketime/libfaketime.so.1"],
        "libfaketime (Debian/Ubuntu: `apt-get install faketime`)",
    )?;
    let malloc = find(
        "THOONK_LIBC_MALLOC_DEBUG",
        &["libc_malloc_debug.so.0"],
        "glibc's libc_malloc_debug.so.0 (glibc 2.34 or later)",
    )?;
    Ok(format!("{}:{}", malloc.display(), faketime.display()))
}

/// The library at `$variable`, else the first of `names` found in the
/// system's library directories.
fn find(variable: &str, names: &[&str], what: &str) -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Ok(PathBuf::from(path));
    }
    const DIRS: [&str; 6] = [
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/usr/local/lib",
    ];
    DIRS.iter()
        .flat_map(|dir| names.iter().map(move |name| Path::new(dir).join(name)))
        .find(|path| path.exists())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("a test with a clock set off needs {what}, or its path in {variable}"),
            )
        })
}
