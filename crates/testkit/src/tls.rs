//! Certificates for a private TLS `redis-server`: a throwaway CA and a
//! server certificate it signed for `127.0.0.1` and `localhost`, made with
//! the `openssl` command (from `PATH`, or `$THOONK_OPENSSL`).
//!
//! The server certificate may also serve as a client certificate, so the
//! nodes of a TLS cluster can present it to each other on the cluster bus.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use crate::{tool, TempDir};

/// A test CA and a server certificate it signed, in a directory of their
/// own, removed on drop. Share one (in an `Arc`) among the nodes of a
/// cluster: they must trust each other's certificates.
#[derive(Debug)]
pub struct TestCerts {
    dir: TempDir,
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
        let dir = TempDir::new("certs")?;
        std::fs::write(dir.path().join("server.ext"), SERVER_EXTENSIONS)?;
        // `openssl WORDS… FLAG FILE…`, the files in the directory.
        let openssl = |words: &[&[&str]], files: &[(&str, &str)]| {
            let mut args: Vec<OsString> = words.concat().into_iter().map(OsString::from).collect();
            for (flag, file) in files {
                args.push(flag.into());
                args.push(dir.path().join(file).into());
            }
            openssl(&args)
        };
        let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let ca = [
            "-subj",
            "/CN=thoonk-testkit test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        openssl(
            &[&["req", "-x509", "-nodes", "-days", "1"], &p256, &ca],
            &[("-keyout", "ca.key"), ("-out", "ca.crt")],
        )?;
        openssl(
            &[
                &["req", "-new", "-nodes"],
                &p256,
                &["-subj", "/CN=localhost"],
            ],
            &[("-keyout", "server.key"), ("-out", "server.csr")],
        )?;
        openssl(
            &[&["x509", "-req", "-days", "1", "-set_serial", "2"]],
            &[
                ("-in", "server.csr"),
                ("-CA", "ca.crt"),
                ("-CAkey", "ca.key"),
                ("-extfile", "server.ext"),
                ("-out", "server.crt"),
            ],
        )?;
        Ok(TestCerts { dir })
    }

    /// The CA's certificate (PEM): what a client trusts.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The CA's certificate, read from [`ca_path`](Self::ca_path).
    pub fn ca_pem(&self) -> io::Result<Vec<u8>> {
        std::fs::read(self.ca_path())
    }

    /// The server's certificate (PEM), signed by the CA.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// The server's private key (PEM).
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

/// The `openssl` to run: `$THOONK_OPENSSL`, else from `PATH`.
fn openssl_binary() -> PathBuf {
    std::env::var_os("THOONK_OPENSSL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("openssl"))
}

/// Runs `openssl` with `args`; fails with its output.
fn openssl(args: &[OsString]) -> io::Result<()> {
    tool::run(
        &openssl_binary(),
        args,
        None,
        "Install OpenSSL (Debian/Ubuntu: `apt-get install openssl`) or set THOONK_OPENSSL to its path",
    )
    .map(drop)
}
