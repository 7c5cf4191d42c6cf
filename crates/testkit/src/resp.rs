//! One raw RESP client for tests (std only, blocking): connect to a port or
//! a Unix socket, send a command as byte strings, read a typed reply; or
//! send several at once, pipelined or as one `MULTI`/`EXEC`.
//!
//! It speaks RESP2 and nothing else: no reconnects, no redirects, no
//! scripts cache. A test reaches for it to look at a server from outside
//! the client under test.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::poll::DEADLINE;

/// A reply in RESP2.
#[derive(Clone, PartialEq, Eq)]
pub enum Resp {
    /// `+OK`, `+PONG`, `+QUEUED`.
    Simple(String),
    /// `-ERR …`, `-NOPERM …`: the server refused the command.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$5 hello`; `None` for the nil reply (`$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2 …`; `None` for the nil array (`*-1`).
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// The simple string `s`, e.g. `Resp::simple("OK")`.
    pub fn simple(s: &str) -> Resp {
        Resp::Simple(s.to_string())
    }

    /// Whether it is the nil reply (of either kind).
    pub fn is_nil(&self) -> bool {
        matches!(self, Resp::Bulk(None) | Resp::Array(None))
    }

    /// An error reply as an `Err`, anything else as it is.
    pub fn into_result(self) -> io::Result<Resp> {
        match self {
            Resp::Error(e) => Err(io::Error::other(e)),
            reply => Ok(reply),
        }
    }

    /// The bytes of a bulk or simple string; `None` for nil.
    pub fn bulk(self) -> io::Result<Option<Vec<u8>>> {
        match self {
            Resp::Bulk(b) => Ok(b),
            Resp::Simple(s) => Ok(Some(s.into_bytes())),
            other => Err(other.unexpected("a string")),
        }
    }

    /// A bulk or simple string, as UTF-8 text (nil is an error).
    pub fn text(self) -> io::Result<String> {
        let shown = format!("{self:?}");
        match self.bulk()? {
            Some(bytes) => String::from_utf8(bytes).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8: {shown}"))
            }),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a nil reply, not a string",
            )),
        }
    }

    /// An integer, or a string that holds one (`GET` of a counter,
    /// `ZSCORE`).
    pub fn int(self) -> io::Result<i64> {
        match self {
            Resp::Int(n) => Ok(n),
            other => {
                let shown = format!("{other:?}");
                other.text()?.parse().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not an integer: {shown}"),
                    )
                })
            }
        }
    }

    /// The elements of an array (none for the nil array).
    pub fn array(self) -> io::Result<Vec<Resp>> {
        match self {
            Resp::Array(items) => Ok(items.unwrap_or_default()),
            other => Err(other.unexpected("an array")),
        }
    }

    /// An array of strings (integers written out), as `KEYS`, `HKEYS` or
    /// `LRANGE` answer.
    pub fn strings(self) -> io::Result<Vec<String>> {
        self.array()?
            .into_iter()
            .map(|item| match item {
                Resp::Int(n) => Ok(n.to_string()),
                other => other.text(),
            })
            .collect()
    }

    /// An array of byte strings (nil elements are errors).
    pub fn bulks(self) -> io::Result<Vec<Vec<u8>>> {
        self.array()?
            .into_iter()
            .map(|item| {
                item.bulk()?
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a nil element"))
            })
            .collect()
    }

    /// An array of integers.
    pub fn ints(self) -> io::Result<Vec<i64>> {
        self.array()?.into_iter().map(Resp::int).collect()
    }

    fn unexpected(&self, wanted: &str) -> io::Error {
        match self {
            Resp::Error(e) => io::Error::other(e.clone()),
            other => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected {wanted}, got {other:?}"),
            ),
        }
    }
}

/// Byte strings shown as text where they are text, escaped where not.
impl fmt::Debug for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resp::Simple(s) => write!(f, "+{s}"),
            Resp::Error(e) => write!(f, "-{e}"),
            Resp::Int(n) => write!(f, ":{n}"),
            Resp::Bulk(None) | Resp::Array(None) => write!(f, "nil"),
            Resp::Bulk(Some(b)) => write!(f, "\"{}\"", b.escape_ascii()),
            Resp::Array(Some(items)) => f.debug_list().entries(items).finish(),
        }
    }
}

/// `args` as one RESP command (an array of bulk strings).
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One connection to a server, replies read in the order commands went out.
pub struct Connection {
    stream: BufReader<Stream>,
}

/// What a connection runs over.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stream.get_ref() {
            Stream::Tcp(s) => write!(f, "Connection({:?})", s.peer_addr()),
            Stream::Unix(s) => write!(f, "Connection({:?})", s.peer_addr()),
        }
    }
}

impl Connection {
    /// Connects to `127.0.0.1:port`. A reply that takes longer than
    /// [`DEADLINE`] is an error: that bounds a hang, nothing more.
    pub fn connect(port: u16) -> io::Result<Connection> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.set_write_timeout(Some(DEADLINE))?;
        Ok(Connection {
            stream: BufReader::new(Stream::Tcp(stream)),
        })
    }

    /// Connects to the Unix socket at `path`, with the same timeouts.
    pub fn connect_unix(path: &Path) -> io::Result<Connection> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.set_write_timeout(Some(DEADLINE))?;
        Ok(Connection {
            stream: BufReader::new(Stream::Unix(stream)),
        })
    }

    /// Sends one command without reading its reply: read it with
    /// [`read`](Self::read).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.stream.get_mut().write_all(&encode(args))
    }

    /// Reads the next reply.
    pub fn read(&mut self) -> io::Result<Resp> {
        read(&mut self.stream)
    }

    /// Sends one command and reads its reply. An error reply is a reply,
    /// not an `Err`; see [`Resp::into_result`].
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Resp> {
        self.send(args)?;
        self.read()
    }

    /// Sends `commands` in one write, then reads their replies, in order.
    pub fn pipeline<C, A>(&mut self, commands: &[C]) -> io::Result<Vec<Resp>>
    where
        C: AsRef<[A]>,
        A: AsRef<[u8]>,
    {
        let request: Vec<u8> = commands.iter().flat_map(|c| encode(c.as_ref())).collect();
        self.stream.get_mut().write_all(&request)?;
        commands.iter().map(|_| self.read()).collect()
    }

    /// Runs `commands` as one `MULTI`/`EXEC` (pipelined, so in one round
    /// trip): no other client's command runs between them. Returns their
    /// replies (an error reply of one command at run time among them); a
    /// command refused when queued aborts the whole, as an `Err`.
    pub fn transaction<C, A>(&mut self, commands: &[C]) -> io::Result<Vec<Resp>>
    where
        C: AsRef<[A]>,
        A: AsRef<[u8]>,
    {
        let mut request = encode(&["MULTI"]);
        for command in commands {
            request.extend(encode(command.as_ref()));
        }
        request.extend(encode(&["EXEC"]));
        self.stream.get_mut().write_all(&request)?;
        // MULTI's +OK, one +QUEUED (or a refusal) per command, then EXEC's.
        let mut refused = None;
        for _ in 0..=commands.len() {
            if let Resp::Error(e) = self.read()? {
                refused.get_or_insert(e);
            }
        }
        match (self.read()?, refused) {
            (_, Some(e)) => Err(io::Error::other(format!("MULTI refused a command: {e}"))),
            (Resp::Array(Some(replies)), None) => Ok(replies),
            (other, None) => Err(other.unexpected("EXEC's replies")),
        }
    }
}

/// Reads one reply from `r`.
fn read(r: &mut impl BufRead) -> io::Result<Resp> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return Err(if line.is_empty() {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
        } else {
            bad(&line)
        });
    };
    let (&tag, rest) = line.split_first().ok_or_else(|| bad(line))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    let number = || -> io::Result<i64> {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad(line))
    };
    Ok(match tag {
        b'+' => Resp::Simple(text()),
        b'-' => Resp::Error(text()),
        b':' => Resp::Int(number()?),
        b'$' => match usize::try_from(number()?) {
            Err(_) => Resp::Bulk(None),
            Ok(len) => {
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len);
                Resp::Bulk(Some(buf))
            }
        },
        b'*' => match usize::try_from(number()?) {
            Err(_) => Resp::Array(None),
            Ok(len) => Resp::Array(Some((0..len).map(|_| read(r)).collect::<io::Result<_>>()?)),
        },
        _ => return Err(bad(line)),
    })
}

fn bad(line: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a RESP reply: {:?}", line.escape_ascii().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Resp> {
        read(&mut &bytes[..])
    }

    #[test]
    fn encodes_binary_arguments() {
        assert_eq!(
            encode(&[&b"SET"[..], b"k\0", b""]),
            b"*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn reads_every_kind_of_reply() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Resp::simple("OK"));
        assert_eq!(parse(b"-ERR no\r\n").unwrap(), Resp::Error("ERR no".into()));
        assert_eq!(parse(b":-3\r\n").unwrap(), Resp::Int(-3));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Resp::Bulk(None));
        assert_eq!(
            parse(b"$4\r\na\r\nb\r\n").unwrap(),
            Resp::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(parse(b"*-1\r\n").unwrap(), Resp::Array(None));
        assert_eq!(
            parse(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n").unwrap(),
            Resp::Array(Some(vec![
                Resp::Int(1),
                Resp::Array(Some(vec![Resp::Bulk(Some(b"x".to_vec()))]))
            ]))
        );
        assert!(parse(b"").is_err());
        assert!(parse(b"?\r\n").is_err());
        assert!(parse(b"$5\r\nab").is_err(), "a short bulk string");
    }

    #[test]
    fn converts_replies() {
        assert_eq!(Resp::Bulk(Some(b"12".to_vec())).int().unwrap(), 12);
        assert_eq!(
            parse(b"*2\r\n$1\r\na\r\n:2\r\n")
                .unwrap()
                .strings()
                .unwrap(),
            ["a", "2"]
        );
        assert!(Resp::Array(None).strings().unwrap().is_empty());
        let refused = Resp::Error("NOPERM no".into()).text().unwrap_err();
        assert!(refused.to_string().contains("NOPERM"), "{refused}");
        assert_eq!(
            format!("{:?}", Resp::Bulk(Some(b"a\0".to_vec()))),
            r#""a\x00""#
        );
    }
}
