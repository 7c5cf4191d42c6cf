//! Headless Chromium through chromedriver, spoken to in W3C WebDriver
//! (JSON over HTTP, here over a plain socket): a [`Browser`] session that
//! opens pages, runs script in them, clicks, waits for what the page shows,
//! and takes screenshots; chromedriver on a free port, killed on drop.

use crate::common::Guard;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use thoonk_testkit::poll::{self, DEADLINE};

/// Where screenshots go.
pub(crate) const ARTIFACTS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/test-artifacts");

const INSTALL: &str =
    "install Chromium and its WebDriver: `apt-get install chromium chromium-driver` \
     (Debian/Ubuntu; .ci/run does it when they are missing)";

/// A headless Chromium session; ends it (and its chromedriver) on drop.
pub(crate) struct Browser {
    driver: ChromeDriver,
    session: String,
}

impl Browser {
    pub(crate) fn start() -> Browser {
        let chromium = ["chromium", "chromium-browser"]
            .into_iter()
            .find_map(on_path)
            .unwrap_or_else(|| panic!("no `chromium` on PATH: {INSTALL}"));
        let driver = ChromeDriver::start();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "timeouts": { "pageLoad": DEADLINE.as_millis() as u64, "script": DEADLINE.as_millis() as u64 },
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900"],
            },
        } } });
        let created = driver.call("POST", "/session", Some(&capabilities));
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {created}"))
            .to_string();
        Browser { driver, session }
    }

    /// A WebDriver command of this session; returns its `value`.
    #[track_caller]
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url` and waits for its `load` event.
    #[track_caller]
    pub(crate) fn open(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page; returns what it
    /// returns.
    #[track_caller]
    pub(crate) fn js(&self, script: &str) -> Value {
        self.js_with(script, json!([]))
    }

    /// Runs `script` with `arguments` set to `args`.
    #[track_caller]
    pub(crate) fn js_with(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// The text of the first element matching `css`, if there is one.
    #[track_caller]
    pub(crate) fn text(&self, css: &str) -> Option<String> {
        let text = self.js_with(
            "return document.querySelector(arguments[0])?.textContent ?? null",
            json!([css]),
        );
        text.as_str().map(str::to_string)
    }

    /// Polls `script` until its result satisfies `ok`; fails the test, with
    /// a screenshot, after [`DEADLINE`].
    #[track_caller]
    pub(crate) fn until(&self, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let found = poll::poll(DEADLINE, || {
            last = self.js(script);
            ok(&last).then(|| last.clone())
        });
        found.unwrap_or_else(|| {
            panic!(
                "{what}: not so after {DEADLINE:?} (last: {last}); {}",
                self.diagnose()
            )
        })
    }

    #[track_caller]
    pub(crate) fn until_text(&self, css: &str, expected: &str) {
        let script = format!(
            "return document.querySelector({})?.textContent ?? null",
            json!(css)
        );
        self.until(&format!("{css} reads {expected:?}"), &script, |v| {
            v == expected
        });
    }

    #[track_caller]
    pub(crate) fn until_present(&self, css: &str, present: bool) {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        let what = format!("{css} {}", if present { "appears" } else { "goes away" });
        self.until(&what, &script, |v| v == present);
    }

    /// Clicks the element matching `css`, as a user would.
    #[track_caller]
    pub(crate) fn click(&self, css: &str) {
        let element = self.element(css);
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        );
    }

    /// Types `text` into the element matching `css`, as a user would.
    #[track_caller]
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        );
    }

    /// The WebDriver reference of the element matching `css`.
    #[track_caller]
    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_string()
    }

    /// Saves the visible page as a PNG at `path`.
    #[track_caller]
    pub(crate) fn screenshot(&self, path: &Path) {
        let shot = self.call("GET", "/screenshot", None);
        let png = STANDARD
            .decode(shot.as_str().expect("base64 text"))
            .expect("base64");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Fails the test when the page logged an error (a script that threw,
    /// a request that failed).
    pub(crate) fn assert_no_console_errors(&self) {
        let errors = self.console_errors();
        assert!(
            errors.is_empty(),
            "errors in the browser's console: {errors:#?}"
        );
    }

    /// The browser's console messages of level SEVERE since the last call,
    /// but for the missing `/favicon.ico` (the dashboard has none).
    pub(crate) fn console_errors(&self) -> Vec<Value> {
        let log = self.call("POST", "/se/log", Some(&json!({ "type": "browser" })));
        let entries = log.as_array().cloned().unwrap_or_default();
        let favicon = |e: &Value| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("/favicon.ico "))
        };
        entries
            .into_iter()
            .filter(|e| e["level"] == "SEVERE" && !favicon(e))
            .collect()
    }

    /// For a failure message: where the page is, its text and console, and
    /// a screenshot.
    fn diagnose(&self) -> String {
        let test = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        let shot = Path::new(ARTIFACTS).join(format!("failure-{test}.png"));
        self.screenshot(&shot);
        let page = self.js("return location.href + '\\n' + document.body.innerText");
        let console = self.call("POST", "/se/log", Some(&json!({ "type": "browser" })));
        format!(
            "page: {}\nconsole: {console}\nscreenshot: {}",
            page.as_str().unwrap_or_default(),
            shot.display()
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closes Chromium; chromedriver is killed after.
        let _ = http(
            &self.driver.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// The W3C name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` on a free port; killed on drop.
struct ChromeDriver {
    child: Guard,
    addr: String,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let exe = on_path("chromedriver")
            .unwrap_or_else(|| panic!("no `chromedriver` on PATH: {INSTALL}"));
        // The port is free when chosen, but another process may take it
        // before chromedriver binds it: then chromedriver exits; try again.
        for _ in 0..3 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(&exe)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
            let mut driver = ChromeDriver {
                child: Guard(child),
                addr: format!("127.0.0.1:{port}"),
            };
            // Ready, or exited (then another port is tried).
            let ready = poll::poll(DEADLINE, || {
                if driver.child.0.try_wait().expect("try_wait").is_some() {
                    return Some(false);
                }
                http(&driver.addr, "GET", "/status", None)
                    .is_ok_and(|(_, v)| v["value"]["ready"] == true)
                    .then_some(true)
            })
            .unwrap_or_else(|| panic!("chromedriver was not ready within {DEADLINE:?}"));
            if ready {
                return driver;
            }
        }
        panic!("chromedriver exited at start three times: {INSTALL}")
    }

    /// A WebDriver command; returns its `value`, or fails the test with
    /// the driver's error.
    #[track_caller]
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, reply) = http(&self.addr, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: chromedriver did not answer: {e}"));
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if status != 200 {
            panic!(
                "{method} {path}: {status} {}: {}",
                value["error"].as_str().unwrap_or_default(),
                value["message"].as_str().unwrap_or_default()
            );
        }
        value
    }
}

/// One HTTP/1.1 request with a JSON body; the status and the JSON reply.
/// (chromedriver keeps the connection open whatever it says: the reply
/// ends where its `Content-Length` says.)
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(addr)?;
    // Past the page-load and script timeouts given to the session.
    stream.set_read_timeout(Some(DEADLINE * 4))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line.get(9..12).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| bad(format!("not an HTTP reply: {status_line:?}")))?;
    let mut length = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let length =
        length.ok_or_else(|| bad(format!("{method} {path}: a reply without Content-Length")))?;
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw)?;
    let value = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw)?
    };
    Ok((status, value))
}

/// Where `name` is on PATH, if it is.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
