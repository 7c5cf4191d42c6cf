//! Plain HTTP/1.1 to a `thoonk dashboard`, over a socket: requests as its
//! own page (or another site's) would send them, whole responses, and
//! server-sent event streams; and [`Dashboard`]'s ways to use them.

use super::dashboard::Dashboard;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;
use thoonk_testkit::poll::{self, DEADLINE};

impl Dashboard {
    /// The request as a browser on this dashboard's page would send it,
    /// to the dashboard's `path` (under its prefix, with the basic auth of
    /// the app that mounted it).
    pub(crate) fn request(&self, method: &str, path: &str) -> Request {
        let request = Request::new(&self.addr, method, &format!("{}{path}", self.prefix));
        match &self.basic {
            Some(basic) => request.header("Authorization", basic),
            None => request,
        }
    }

    /// GET with the bearer token (when there is one).
    pub(crate) fn get(&self, path: &str) -> Response {
        self.request("GET", path)
            .bearer(self.token.as_deref())
            .send()
    }

    /// GET, as JSON, asserting 200.
    #[track_caller]
    pub(crate) fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
    }

    /// A POST from the dashboard's own page (same Origin).
    pub(crate) fn post(&self, path: &str) -> Response {
        self.request("POST", path)
            .header("Origin", &format!("http://{}", self.addr))
            .bearer(self.token.as_deref())
            .send()
    }

    /// Logs in through the form, as a browser would; returns the cookie
    /// (`NAME=VALUE`) to send from then on.
    #[track_caller]
    pub(crate) fn login(&self) -> String {
        let token = self.token.as_deref().expect("a dashboard with a token");
        let ok = self
            .request("POST", "/login")
            .header("Origin", &format!("http://{}", self.addr))
            .form(&format!("token={token}"))
            .send();
        assert_eq!(ok.status, 303, "{}", ok.body);
        let cookie = ok.header("set-cookie").expect("a cookie");
        cookie.split(';').next().unwrap().to_string()
    }

    /// Polls the overview until `cond` holds for it.
    #[track_caller]
    pub(crate) fn until(&self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let found = poll::poll(DEADLINE, || {
            last = self.json("/api/queues");
            cond(&last).then(|| last.clone())
        });
        found.unwrap_or_else(|| panic!("{what}: not so after {DEADLINE:?}: {last}"))
    }
}

/// The overview line of `queue`.
pub(crate) fn line<'a>(overview: &'a Value, queue: &str) -> Option<&'a Value> {
    overview["queues"]
        .as_array()?
        .iter()
        .find(|q| q["name"] == queue)
}

pub(crate) struct Request {
    addr: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    /// `METHOD PATH` to the server at `addr` (`HOST:PORT`), which is its
    /// Host header too.
    pub(crate) fn new(addr: &str, method: &str, path: &str) -> Request {
        Request {
            addr: addr.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            headers: vec![("Host".into(), addr.to_string())],
            body: String::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(token) => self.header("Authorization", &format!("Bearer {token}")),
            None => self,
        }
    }

    pub(crate) fn form(mut self, body: &str) -> Self {
        self.body = body.to_string();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    fn write(&self) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the dashboard");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(self.body.as_bytes()).unwrap();
        stream
    }

    pub(crate) fn send(&self) -> Response {
        let mut raw = Vec::new();
        self.write()
            .read_to_end(&mut raw)
            .expect("read the response");
        Response::parse(&raw)
    }

    /// Opens a server-sent event stream.
    pub(crate) fn stream(&self) -> EventStream {
        let mut reader = BufReader::new(self.write());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
        }
        EventStream { reader }
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        let mut lines = head.lines();
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
        let body = if chunked {
            unchunk(body)
        } else {
            body.to_string()
        };
        Response {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Server-sent events as they arrive.
pub(crate) struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// The next event named `name` (others skipped), as JSON.
    #[track_caller]
    pub(crate) fn next(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        let mut event = String::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "no {name} event within {DEADLINE:?}"
            );
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .expect("the stream stays open");
            // Chunk sizes of the chunked encoding come between events.
            let line = line.trim_end();
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if event == name {
                    return serde_json::from_str(data).expect("JSON data");
                }
            }
        }
    }
}
