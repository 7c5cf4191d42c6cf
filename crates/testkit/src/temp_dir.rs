//! A directory of its own, for one server's data, one CA's certificates or
//! one test's files: fresh, and removed on drop.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory in the system's temporary directory, removed (with
/// what is in it) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Makes `thoonk-NAME-PID-N`, N counting the directories this process
    /// made, so no two tests (nor two runs) share one.
    pub fn new(name: &str) -> io::Result<TempDir> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "thoonk-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        // Left by an earlier process that had the same id.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `file` inside, as text: for an environment variable or
    /// a command line of a child process.
    #[track_caller]
    pub fn file(&self, file: &str) -> String {
        let path = self.path.join(file);
        path.to_str()
            .unwrap_or_else(|| panic!("not UTF-8: {}", path.display()))
            .to_string()
    }

    /// The lines of `file` inside (none when it does not exist yet); fails
    /// the test when it cannot be read.
    #[track_caller]
    pub fn lines(&self, file: &str) -> Vec<String> {
        match std::fs::read_to_string(self.path.join(file)) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read {file}: {e}"),
        }
    }

    /// Creates the empty file `file` inside: a flag a child process waits
    /// for. Fails the test when it cannot.
    #[track_caller]
    pub fn touch(&self, file: &str) {
        std::fs::write(self.path.join(file), b"")
            .unwrap_or_else(|e| panic!("create the flag file {file}: {e}"));
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_dir_holds_files_until_dropped() {
        let (a, b) = (TempDir::new("t").unwrap(), TempDir::new("t").unwrap());
        assert_ne!(a.path(), b.path());
        assert!(a.lines("log").is_empty(), "no file yet");
        std::fs::write(a.file("log"), "one\ntwo\n").unwrap();
        assert_eq!(a.lines("log"), ["one", "two"]);
        a.touch("go");
        assert!(a.path().join("go").exists());
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
