//! `thoonk dashboard` and a queue's flow control: pause and resume as
//! actions (refused, as every action is, without the token or from another
//! site), the settings on the queue page and in the API, the overview's
//! mark of a paused queue, and the settings in `/metrics`. The real binary
//! against a private Redis, over plain HTTP; settings other than pause are
//! changed through the library (`Queue::configure`), as a program would.

mod common;

use common::dashboard::Dashboard;
use common::http::{line, EventStream};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use thoonk::{ConfigChange, Rate};
use thoonk_testkit::poll::{self, DEADLINE};

/// The overview's mark of a paused queue, as the page writes it.
const PAUSED_MARK: &str =
    r#"<span class="paused" title="paused: no job is handed out">paused</span>"#;

/// The overview page's row of `queue`.
#[track_caller]
fn row<'a>(page: &'a str, queue: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<tr data-queue="{queue}">"#))
        .unwrap_or_else(|| panic!("no row of {queue}: {page}"));
    let row = &page[start..];
    &row[..row.find("</tr>").expect("a whole row")]
}

/// The text of the queue page's cell of `setting`.
#[track_caller]
fn setting<'a>(page: &'a str, setting: &str) -> &'a str {
    let open = format!(r#"<dd id="setting-{setting}">"#);
    let start = page
        .find(&open)
        .unwrap_or_else(|| panic!("no {setting} shown: {page}"))
        + open.len();
    let text = &page[start..];
    &text[..text.find("</dd>").expect("a whole cell")]
}

/// The value of the metric line `name{queue="QUEUE"}`, if there is one.
fn metric(body: &str, name: &str, queue: &str) -> Option<String> {
    let start = format!("{name}{{queue=\"{queue}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&start))
        .map(str::to_string)
}

/// A queue with every setting changed from its default.
fn limits() -> ConfigChange {
    ConfigChange::new()
        .rate(Some(Rate::new(5000, Duration::from_secs(60))))
        .max_running(Some(3))
        .timeout(Some(Duration::from_millis(1500)))
        .lease(Duration::from_secs(45))
        .max_cancels(7)
        .paused(true)
}

#[test]
fn pause_and_resume_from_the_dashboard_stop_and_restart_claims() {
    let d = Dashboard::start(None);
    d.redis.publish("mail", "one", &["--id", "m1"]);
    d.until("mail listed", |o| line(o, "mail").is_some());

    let paused = d.post("/api/queues/mail/pause");
    assert_eq!(paused.status, 200, "{}", paused.body);
    let reply: Value = serde_json::from_str(&paused.body).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["settings"]["paused"], true, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().starts_with("paused: "),
        "{reply}"
    );
    assert!(d.redis.config("mail").paused);
    // No worker is handed the job now. (A window in which nothing may
    // happen: were the queue not paused, `get` would take m1 at once.)
    let out = d.redis.thoonk(&["get", "mail", "--timeout", "0.3"]);
    assert_eq!(out.code, 3, "nothing claimed while paused: {out:?}");
    // Pausing twice is no error: it stays paused.
    assert_eq!(d.post("/api/queues/mail/pause").status, 200);

    let resumed = d.post("/api/queues/mail/resume");
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let reply: Value = serde_json::from_str(&resumed.body).unwrap();
    assert_eq!(reply["settings"]["paused"], false, "{reply}");
    assert!(!d.redis.config("mail").paused);
    assert_eq!(d.redis.get("mail").id, "m1", "claimed again once resumed");

    // A name no queue can have is refused as it is for the other actions.
    let bad = d.post(&format!("/api/queues/{}/pause", "x".repeat(300)));
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn pause_and_resume_are_refused_from_another_site_or_without_the_token() {
    // Without a token: a POST must come from the dashboard's own page.
    let d = Dashboard::start(None);
    d.redis.publish("q", "x", &[]);
    for action in ["pause", "resume"] {
        let path = format!("/api/queues/q/{action}");
        let cross = d
            .request("POST", &path)
            .header("Origin", "http://evil.example")
            .send();
        assert_eq!(cross.status, 403, "{action}: {}", cross.body);
        let no_origin = d.request("POST", &path).send();
        assert_eq!(no_origin.status, 403, "{action}: {}", no_origin.body);
    }
    assert!(!d.redis.config("q").paused, "not paused by a refused call");

    // With one: no token, no action; a cookie needs the Origin too; a
    // bearer call (a program's) does not.
    let d = Dashboard::start(Some("flow-token-0123456789"));
    d.redis.publish("q", "x", &[]);
    let anonymous = d
        .request("POST", "/api/queues/q/pause")
        .header("Origin", &format!("http://{}", d.addr))
        .send();
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let cookie = d.login();
    let cross = d
        .request("POST", "/api/queues/q/pause")
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(!d.redis.config("q").paused, "not paused by a refused call");
    let same = d
        .request("POST", "/api/queues/q/pause")
        .header("Cookie", &cookie)
        .header("Origin", &format!("http://{}", d.addr))
        .send();
    assert_eq!(same.status, 200, "{}", same.body);
    assert!(d.redis.config("q").paused);
    let cross = d
        .request("POST", "/api/queues/q/resume")
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(d.redis.config("q").paused, "not resumed by a refused call");
    let bearer = d
        .request("POST", "/api/queues/q/resume")
        .bearer(Some("flow-token-0123456789"))
        .send();
    assert_eq!(bearer.status, 200, "{}", bearer.body);
    assert!(!d.redis.config("q").paused);
}

#[test]
fn the_queue_page_and_the_api_show_every_setting() {
    let d = Dashboard::start(None);
    d.redis.publish("plain", "x", &[]);
    d.redis.publish("tight", "x", &[]);
    d.until("both listed", |o| {
        line(o, "plain").is_some() && line(o, "tight").is_some()
    });

    // Nothing set: no limit, the defaults marked as such.
    let page = d.get("/queues/plain");
    assert_eq!(page.status, 200);
    for (name, shown) in [
        ("paused", "no"),
        ("rate", "none"),
        ("max_running", "none"),
        ("timeout", "none"),
        ("lease", "30s (default)"),
        ("max_cancels", "25 (default)"),
    ] {
        assert_eq!(setting(&page.body, name), shown, "{name}");
    }
    assert!(page.body.contains(r#"<button id="pause" type="button">"#));
    assert!(page
        .body
        .contains(r#"<button id="resume" type="button" hidden>"#));

    // Every setting changed elsewhere: the page and the API show it (once
    // the overview read it: the pause at once, by its event; a new limit
    // sends none of the queue's events, but this came with the pause).
    d.redis.configure("tight", limits());
    let want = json!({
        "paused": true,
        "rate": { "jobs": 5000, "per_ms": 60000 },
        "max_running": 3,
        "timeout_ms": 1500,
        "lease_ms": 45000,
        "max_cancels": 7,
        "keep_finished": null,
        "keep_finished_for_ms": null,
    });
    d.until("the settings read", |o| {
        line(o, "tight").is_some_and(|q| q["settings"] == want)
    });
    assert_eq!(d.json("/api/queues/tight")["settings"], want);
    let page = d.get("/queues/tight");
    for (name, shown) in [
        ("paused", "yes"),
        ("rate", "5000/m"),
        ("max_running", "3"),
        ("timeout", "1500ms"),
        ("lease", "45s"),
        ("max_cancels", "7"),
    ] {
        assert_eq!(setting(&page.body, name), shown, "{name}");
    }
    assert!(page
        .body
        .contains(r#"<button id="pause" type="button" hidden>"#));
    assert!(page.body.contains(r#"<button id="resume" type="button">"#));

    // A queue nobody published to: its settings all the same.
    d.redis
        .configure("fresh", ConfigChange::new().max_running(Some(9)));
    let page = d.get("/queues/fresh");
    assert_eq!(setting(&page.body, "max_running"), "9");
}

#[test]
fn the_overview_marks_each_paused_queue_and_its_live_stream_says_so() {
    let d = Dashboard::start(None);
    for queue in ["mail", "sms"] {
        d.redis.publish(queue, "x", &[]);
    }
    d.until("both listed", |o| {
        line(o, "mail").is_some() && line(o, "sms").is_some()
    });
    let page = d.get("/");
    assert!(
        !row(&page.body, "mail").contains(PAUSED_MARK),
        "{}",
        page.body
    );

    let mut stream = d.request("GET", "/api/live").stream();
    assert_eq!(
        line(&stream.next("overview"), "mail").unwrap()["settings"]["paused"],
        false
    );
    assert_eq!(d.post("/api/queues/mail/pause").status, 200);
    // The stream tells of the pause, by itself.
    let overview = next_overview(&mut stream, |mail| mail["settings"]["paused"] == true);
    assert_eq!(line(&overview, "sms").unwrap()["settings"]["paused"], false);
    let page = d.get("/");
    assert!(
        row(&page.body, "mail").contains(PAUSED_MARK),
        "{}",
        page.body
    );
    assert!(
        !row(&page.body, "sms").contains(PAUSED_MARK),
        "{}",
        page.body
    );

    assert_eq!(d.post("/api/queues/mail/resume").status, 200);
    next_overview(&mut stream, |mail| mail["settings"]["paused"] == false);
    let page = d.get("/");
    assert!(
        !row(&page.body, "mail").contains(PAUSED_MARK),
        "{}",
        page.body
    );
}

/// The first overview on `stream` whose line of `mail` satisfies `cond`.
#[track_caller]
fn next_overview(stream: &mut EventStream, cond: impl Fn(&Value) -> bool) -> Value {
    // The stream sends an overview at every refresh: bound the wait.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let overview = stream.next("overview");
        if line(&overview, "mail").is_some_and(&cond) {
            return overview;
        }
        assert!(
            Instant::now() < deadline,
            "not so within {DEADLINE:?}: {overview}"
        );
    }
}

#[test]
fn metrics_give_each_queues_settings() {
    let d = Dashboard::start(None);
    d.redis.publish("plain", "x", &[]);
    d.redis.publish("tight", "x", &[]);
    d.redis.configure("tight", limits());
    let body = poll_metrics(&d, |m| {
        metric(m, "thoonk_paused", "tight").as_deref() == Some("1")
    });
    for (name, kind) in [
        ("thoonk_paused", "gauge"),
        ("thoonk_rate_limit_jobs", "gauge"),
        ("thoonk_rate_limit_period_seconds", "gauge"),
        ("thoonk_max_running", "gauge"),
        ("thoonk_job_timeout_seconds", "gauge"),
        ("thoonk_lease_seconds", "gauge"),
        ("thoonk_max_cancels", "gauge"),
    ] {
        let help = format!("# HELP {name} ");
        assert!(
            body.lines().any(|l| l.starts_with(&help)),
            "{name}:\n{body}"
        );
        let kind = format!("# TYPE {name} {kind}");
        assert!(body.lines().any(|l| l == kind), "{kind}:\n{body}");
    }
    let value = |name, queue| metric(&body, name, queue);
    for (name, tight, plain) in [
        ("thoonk_paused", Some("1"), Some("0")),
        ("thoonk_rate_limit_jobs", Some("5000"), None),
        ("thoonk_rate_limit_period_seconds", Some("60"), None),
        ("thoonk_max_running", Some("3"), None),
        ("thoonk_job_timeout_seconds", Some("1.5"), None),
        ("thoonk_lease_seconds", Some("45"), Some("30")),
        ("thoonk_max_cancels", Some("7"), Some("25")),
    ] {
        assert_eq!(value(name, "tight").as_deref(), tight, "{name}:\n{body}");
        assert_eq!(value(name, "plain").as_deref(), plain, "{name}:\n{body}");
    }

    // Limits removed: their lines go; resumed: 0.
    d.redis.configure(
        "tight",
        ConfigChange::new()
            .rate(None)
            .max_running(None)
            .timeout(None)
            .paused(false),
    );
    let body = poll_metrics(&d, |m| {
        metric(m, "thoonk_paused", "tight").as_deref() == Some("0")
    });
    for name in [
        "thoonk_rate_limit_jobs",
        "thoonk_rate_limit_period_seconds",
        "thoonk_max_running",
        "thoonk_job_timeout_seconds",
    ] {
        assert_eq!(metric(&body, name, "tight"), None, "{name}:\n{body}");
    }
}

/// Scrapes `/metrics` until `ready` holds for it (the overview reads the
/// settings again at a pause's or resume's event); returns that scrape.
#[track_caller]
fn poll_metrics(d: &Dashboard, ready: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let found = poll::poll(DEADLINE, || {
        let scrape = d.get("/metrics");
        assert_eq!(scrape.status, 200, "{}", scrape.body);
        last = scrape.body;
        ready(&last).then(|| last.clone())
    });
    found.unwrap_or_else(|| panic!("metrics never got there:\n{last}"))
}
