//! Running the command-line tools the kit needs besides `redis-server`
//! (`redis-cli`, `openssl`): one way to run one, feed it, read it, and say
//! how to install it when it is missing.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `binary` with `args`, feeding it `stdin` if given, and returns its
/// stdout without the final newline. An error if it cannot be run (saying
/// how to `install` it) or exits non-zero (with its output).
pub(crate) fn run(
    binary: &Path,
    args: &[impl AsRef<OsStr>],
    stdin: Option<&str>,
    install: &str,
) -> io::Result<String> {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {}: {e}. {install}", binary.display()),
            )
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Dropping the pipe closes it, so the tool stops after the last line.
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} {} failed ({}):\n{stdout}{}",
            binary.display(),
            args.iter()
                .map(|a| a.as_ref().to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(stdout.strip_suffix('\n').unwrap_or(&stdout).to_string())
}
