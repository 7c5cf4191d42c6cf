//! Certificates for a private TLS `redis-server`: a throwaway CA and a
//! server certificate it signed for `127.0.0.1` and `localhost`, made with
//! the `openssl` command (from `PATH`, or `$THOONK_OPENSSL`).
//!
//! The server certificate may also serve as a client certificate, so the
//! nodes of a TLS cluster can present it to each other on the cluster bus.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// A test CA and a server certificate it signed, in a directory of their
/// own, removed on drop. Share one (in an `Arc`) among the nodes of a
/// cluster: they must trust each other's certificates.
#[derive(Debug)]
pub struct TestCerts {
    dir: PathBuf,
}

/// What the server certificate may be used for, and the names it is
/// valid for (rustls checks the IP address of a `rediss://127.0.0.1` URL
/// against the `IP:` entry).
const SERVER_EXTENSIONS: &str = "\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
";

impl TestCerts {
    /// Makes a fresh CA and server certificate (P-256 keys, valid for a
    /// day) in a new temporary directory.
    pub fn generate() -> io::Result<TestCerts> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "private-redis-certs-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        // Built first, so the directory is removed however this ends.
        let certs = TestCerts { dir };
        let dir = &certs.dir;
        let path = |file: &str| dir.join(file).into_os_string();
        std::fs::write(dir.join("server.ext"), SERVER_EXTENSIONS)?;
        let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(|cmd| {
            cmd.args(["req", "-x509", "-nodes", "-days", "1"])
                .args(p256)
                .args(["-subj", "/CN=private-redis test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(path("ca.key"))
                .arg("-out")
                .arg(path("ca.crt"))
        })?;
        openssl(|cmd| {
            cmd.args(["req", "-new", "-nodes"])
                .args(p256)
                .args(["-subj", "/CN=localhost"])
                .arg("-keyout")
                .arg(path("server.key"))
                .arg("-out")
                .arg(path("server.csr"))
        })?;
        openssl(|cmd| {
            cmd.args(["x509", "-req", "-days", "1", "-set_serial", "2"])
                .arg("-in")
                .arg(path("server.csr"))
                .arg("-CA")
                .arg(path("ca.crt"))
                .arg("-CAkey")
                .arg(path("ca.key"))
                .arg("-extfile")
                .arg(path("server.ext"))
                .arg("-out")
                .arg(path("server.crt"))
        })?;
        Ok(certs)
    }

    /// The CA's certificate (PEM): what a client trusts.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The CA's certificate, read from [`ca_path`](Self::ca_path).
    pub fn ca_pem(&self) -> io::Result<Vec<u8>> {
        std::fs::read(self.ca_path())
    }

    /// The server's certificate (PEM), signed by the CA.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// The server's private key (PEM).
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `openssl` to run: `$THOONK_OPENSSL`, else from `PATH`.
fn openssl_binary() -> PathBuf {
    std::env::var_os("THOONK_OPENSSL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("openssl"))
}

/// Runs `openssl` with the arguments `args` adds; fails with its stderr.
fn openssl(args: impl FnOnce(&mut Command) -> &mut Command) -> io::Result<()> {
    let binary = openssl_binary();
    let mut cmd = Command::new(&binary);
    args(&mut cmd);
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run {}: {e}. Install OpenSSL (Debian/Ubuntu: `apt-get install openssl`) \
                     or set THOONK_OPENSSL to its path",
                    binary.display()
                ),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}
