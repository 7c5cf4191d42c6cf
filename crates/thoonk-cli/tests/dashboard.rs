//! `thoonk dashboard` over HTTP: every page, API route and action, the
//! metrics, the live stream, and the security rules (token, Origin, Host,
//! escaping). The real binary against a private Redis; requests are plain
//! HTTP/1.1 over a socket.

mod common;

use common::dashboard::Dashboard;
use common::http::{line, Request};
use common::{Background, Redis};
use serde_json::Value;

#[test]
fn the_overview_shows_every_queue_with_its_counts_rates_and_workers() {
    let d = Dashboard::start(None);
    d.redis.publish("mail", "one", &[]);
    d.redis.publish("mail", "two", &["--delay", "3600"]);
    d.redis.publish("sms", "three", &[]);
    let overview = d.until("both queues listed", |o| {
        line(o, "mail").is_some_and(|q| q["available"] == 1 && q["delayed"] == 1)
            && line(o, "sms").is_some()
    });
    let mail = line(&overview, "mail").unwrap();
    assert_eq!(
        (
            mail["publishes"].as_u64(),
            mail["workers"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0))
    );
    // The last hour by minute, from the tally in Redis: both publishes in
    // the current minute (unless the test ran across one).
    let per_minute = |k: &str| -> Vec<u64> {
        let list = mail[k].as_array().expect("an array");
        list.iter().map(|v| v.as_u64().unwrap()).collect()
    };
    let publishes = per_minute("publishes_per_minute");
    assert_eq!(publishes.len(), 60);
    assert_eq!(publishes.iter().sum::<u64>(), 2, "{publishes:?}");
    assert_eq!(per_minute("finishes_per_minute").iter().sum::<u64>(), 0);

    let page = d.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"<tr data-queue="mail">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<a href="/queues/mail">mail</a>"#));
    assert!(page.body.contains(r#"<td class="n available">1</td>"#));
    assert!(page.body.contains(r#"<script src="/assets/app.js">"#));
    let script = d.get("/assets/app.js");
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.body.contains("EventSource"));
    assert_eq!(d.get("/assets/app.css").status, 200);
}

#[test]
fn a_queue_page_lists_each_state_and_a_job_page_shows_the_whole_job() {
    let d = Dashboard::start(None);
    let id = d
        .redis
        .publish("mail", r#"{"to":"ann","n":1}"#, &["--id", "j1"]);
    d.redis.publish("mail", "plain text", &["--id", "j2"]);
    let page = d.get("/queues/mail?state=available");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"<tr data-id="j1">"#) && page.body.contains(r#"<tr data-id="j2">"#)
    );
    assert!(page.body.contains(r#"data-action="retract""#));
    assert_eq!(d.get("/queues/mail?state=bogus").status, 400);

    // Job by a worker that is not there: the page offers stall and cancel.
    d.redis.thoonk(&["get", "mail"]).assert_success();
    let claimed = d.get("/queues/mail?state=claimed");
    assert!(
        claimed.body.contains(r#"data-action="stall""#)
            && claimed.body.contains(r#"data-action="cancel""#)
    );

    let job = d.get(&format!("/queues/mail/jobs/{id}"));
    assert_eq!(job.status, 200);
    assert!(
        job.body.contains(r#"<dd id="state">claimed</dd>"#),
        "{}",
        job.body
    );
    // Pretty-printed JSON, escaped as text.
    assert!(
        job.body
            .contains("{\n  &quot;to&quot;: &quot;ann&quot;,\n  &quot;n&quot;: 1\n}"),
        "{}",
        job.body
    );
    assert!(
        job.body.contains(r#"<dd id="lease">20"#),
        "a lease deadline: {}",
        job.body
    );
    // Find by id goes to the job's page.
    let found = d.get("/queues/mail?find=j2");
    assert_eq!(
        (found.status, found.header("location")),
        (303, Some("/queues/mail/jobs/j2"))
    );
    let missing = d.get("/queues/mail/jobs/nope");
    assert!(missing.body.contains(r#"id="missing""#));

    // The same through the API.
    let detail = d.json("/api/queues/mail/jobs/j1");
    assert_eq!(
        (detail["state"].as_str(), detail["cancelled"].as_u64()),
        (Some("claimed"), Some(0))
    );
    assert!(detail["lease_deadline_ms"].as_u64() > detail["claimed_ms"].as_u64());
    assert_eq!(d.get("/api/queues/mail/jobs/nope").status, 404);
    let listed = d.json("/api/queues/mail/jobs?state=available");
    assert_eq!(listed[0]["id"], "j2");
    assert_eq!(listed[0]["item"], "plain text");
    let queue = d.json("/api/queues/mail");
    assert_eq!(queue["name"], "mail");
    assert_eq!(d.get("/api/queues/nope").status, 404);
}

#[test]
fn actions_move_jobs_and_say_why_when_a_job_moved_on() {
    let d = Dashboard::start(None);
    for id in ["a", "b", "c", "d"] {
        d.redis.publish("q", id, &["--id", id]);
    }
    // a, b claimed; a stalled through the dashboard, b cancelled.
    d.redis.thoonk(&["get", "q"]).assert_success();
    d.redis.thoonk(&["get", "q"]).assert_success();
    let stall = d.post("/api/queues/q/jobs/a/stall");
    assert_eq!(stall.status, 200, "{}", stall.body);
    assert_eq!(d.post("/api/queues/q/jobs/b/cancel").status, 200);
    let stats = d.redis.stats("q");
    assert_eq!(
        (stats["stalled"].as_u64(), stats["available"].as_u64()),
        (Some(1), Some(3))
    );
    // Retry the stalled one; the second time it is refused: it moved on.
    assert_eq!(d.post("/api/queues/q/jobs/a/retry").status, 200);
    let again = d.post("/api/queues/q/jobs/a/retry");
    assert_eq!(again.status, 409, "{}", again.body);
    let error: Value = serde_json::from_str(&again.body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("job a in queue q is not stalled"),
        "{error}"
    );
    // Retract; then it is gone.
    assert_eq!(d.post("/api/queues/q/jobs/c/retract").status, 200);
    assert_eq!(d.post("/api/queues/q/jobs/c/retract").status, 404);
    assert_eq!(d.post("/api/queues/q/jobs/d/explode").status, 404);
    // Retry all stalled.
    for _ in 0..3 {
        let claim: Value = serde_json::from_str(d.redis.thoonk(&["get", "q"]).line()).unwrap();
        d.redis
            .thoonk(&["stall", "q", claim["id"].as_str().unwrap()])
            .assert_success();
    }
    let all = d.post("/api/queues/q/retry-all");
    assert_eq!(all.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&all.body).unwrap()["retried"],
        3
    );
    assert_eq!(d.redis.stats("q")["stalled"], 0);
}

#[test]
fn payloads_ids_reasons_and_names_are_escaped() {
    let d = Dashboard::start(None);
    let evil = "<script>alert(1)</script>";
    let queue = "q<b>\"'";
    d.redis
        .publish(queue, evil, &["--id", "<img src=x onerror=alert(2)>"]);
    let claim: Value = serde_json::from_str(d.redis.thoonk(&["get", queue]).line()).unwrap();
    let id = claim["id"].as_str().unwrap();
    d.post(&format!(
        "/api/queues/{}/jobs/{}/stall",
        enc(queue),
        enc(id)
    ));
    for path in [
        "/".to_string(),
        format!("/queues/{}?state=stalled", enc(queue)),
        format!("/queues/{}/jobs/{}", enc(queue), enc(id)),
    ] {
        let page = d.get(&path);
        assert_eq!(page.status, 200, "{path}");
        for raw in [evil, "<img src=x", "q<b>"] {
            assert!(
                !page.body.contains(raw),
                "{path} holds {raw:?} unescaped: {}",
                page.body
            );
        }
    }
    let stalled = d.get(&format!("/queues/{}?state=stalled", enc(queue)));
    assert!(stalled
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(stalled.body.contains("stalled from the dashboard"));
}

#[test]
fn metrics_give_gauges_per_state_and_counters() {
    let d = Dashboard::start(None);
    d.redis.publish("mail", "x", &["--id", "x"]);
    d.redis.publish("a\"b", "y", &[]);
    d.redis.thoonk(&["get", "mail"]).assert_success();
    d.redis.thoonk(&["stall", "mail", "x"]).assert_success();
    d.until("the stall seen", |o| {
        line(o, "mail").is_some_and(|q| q["stalled"] == 1)
    });
    let metrics = d.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for expected in [
        "# TYPE thoonk_jobs gauge",
        r#"thoonk_jobs{queue="mail",state="stalled"} 1"#,
        r#"thoonk_jobs{queue="mail",state="available"} 0"#,
        r#"thoonk_jobs{queue="a\"b",state="available"} 1"#,
        "# TYPE thoonk_publishes_total counter",
        r#"thoonk_publishes_total{queue="mail"} 1"#,
        r#"thoonk_finishes_total{queue="mail"} 0"#,
        r#"thoonk_stalls_total{queue="mail"} 1"#,
        r#"thoonk_cancels_total{queue="mail"} 0"#,
        r#"thoonk_recoveries_total{queue="mail"} 0"#,
        r#"thoonk_workers{queue="mail"} 0"#,
    ] {
        assert!(
            metrics.body.lines().any(|l| l == expected),
            "{expected:?} missing:\n{}",
            metrics.body
        );
    }
}

#[test]
fn the_live_stream_sends_counts_and_each_move() {
    let mut d = Dashboard::start(None);
    d.redis.publish("mail", "first", &[]);
    d.until("the queue seen", |o| line(o, "mail").is_some());
    let mut stream = d.request("GET", "/api/live/mail").stream();
    let stats = stream.next("stats");
    assert_eq!(stats["available"], 1);
    d.redis.publish("mail", "second", &["--id", "s2"]);
    let moved = stream.next("job");
    assert_eq!(
        (moved["event"].as_str(), moved["id"].as_str()),
        (Some("publish"), Some("s2"))
    );
    assert_eq!(stream.next("stats")["available"], 2);
    let mut overview = d.request("GET", "/api/live").stream();
    assert!(line(&overview.next("overview"), "mail").is_some());
    // Open streams do not hold up a shutdown.
    let out = d.stop();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn without_a_token_it_answers_only_to_loopback_hosts_and_same_origin_posts() {
    let d = Dashboard::start(None);
    d.redis.publish("q", "x", &["--id", "x"]);
    // A page of another site, or one that rebound its name to 127.0.0.1.
    let rebound = d
        .request("GET", "/api/queues")
        .header("Host", "evil.example:7070")
        .send();
    assert_eq!(rebound.status, 403);
    let cross = d
        .request("POST", "/api/queues/q/jobs/x/retract")
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403, "{}", cross.body);
    let no_origin = d.request("POST", "/api/queues/q/jobs/x/retract").send();
    assert_eq!(no_origin.status, 403);
    assert_eq!(d.redis.stats("q")["available"], 1, "nothing was retracted");
    assert_eq!(d.post("/api/queues/q/jobs/x/retract").status, 200);
}

#[test]
fn with_a_token_every_page_and_call_needs_it() {
    let d = Dashboard::start(Some("s3cret-token-0123456789"));
    d.redis.publish("q", "x", &["--id", "x"]);
    let anonymous = |method: &str, path: &str| d.request(method, path).send();
    assert_eq!(anonymous("GET", "/api/queues").status, 401);
    assert_eq!(anonymous("GET", "/metrics").status, 401);
    let page = anonymous("GET", "/queues/q");
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login"))
    );
    assert_eq!(anonymous("GET", "/login").status, 200);
    assert_eq!(
        d.get("/api/queues").status,
        200,
        "the bearer token opens the API"
    );

    // The login form: a wrong token is refused, the right one sets a cookie.
    let origin = format!("http://{}", d.addr);
    let login = |token: &str| {
        d.request("POST", "/login")
            .header("Origin", &origin)
            .form(&format!("token={token}"))
            .send()
    };
    assert_eq!(login("wrong").status, 401);
    let ok = login("s3cret-token-0123456789");
    assert_eq!(ok.status, 303);
    let cookie = ok
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(ok.header("set-cookie").unwrap().contains("HttpOnly"));
    // A secret of this run, not the token: cookies reach every port.
    assert!(!cookie.contains("s3cret-token-0123456789"), "{cookie}");
    let with_cookie = |method: &str, path: &str| d.request(method, path).header("Cookie", &cookie);
    let page = with_cookie("GET", "/queues/q").send();
    assert_eq!(page.status, 200);
    // No other site may frame the pages (a click there would pass the
    // Origin check).
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    // A cookie rides along on another site's form: its POST is refused.
    let cross = with_cookie("POST", "/api/queues/q/jobs/x/retract")
        .header("Origin", "http://evil.example")
        .send();
    assert_eq!(cross.status, 403);
    let same = with_cookie("POST", "/api/queues/q/jobs/x/stall")
        .header("Origin", &origin)
        .send();
    assert_eq!(
        same.status, 409,
        "same origin gets through (and x is not claimed): {}",
        same.body
    );
    // Logging out clears the cookie.
    let out = with_cookie("POST", "/logout")
        .header("Origin", &origin)
        .send();
    assert_eq!((out.status, out.header("location")), (303, Some("/login")));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    // A bearer call is a program's, not a browser's: no Origin needed.
    let bearer = d
        .request("POST", "/api/queues/q/jobs/x/retract")
        .bearer(Some("s3cret-token-0123456789"))
        .send();
    assert_eq!(bearer.status, 200);
}

#[test]
fn it_will_not_listen_beyond_loopback_without_a_token() {
    let redis = Redis::start();
    let out = redis.thoonk(&["dashboard", "--listen", "0.0.0.0:0"]);
    out.failed(
        1,
        &[
            "refusing to listen on 0.0.0.0:0 without a token",
            "--token",
            "THOONK_DASHBOARD_TOKEN",
        ],
    );
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn a_running_worker_shows_on_the_overview() {
    let d = Dashboard::start(None);
    d.redis.publish("w", "x", &[]);
    let worker = d.redis.spawn(&["work", "w", "--", "cat"]);
    let overview = d.until("the worker listed", |o| {
        line(o, "w").is_some_and(|q| {
            q["workers"].as_array().is_some_and(|w| w.len() == 1) && q["finishes"] == 1
        })
    });
    let seen = &line(&overview, "w").unwrap()["workers"][0];
    assert!(seen["alive_until_ms"].as_u64() > Some(0));
    let page = d.get("/");
    assert!(
        page.body
            .contains(&format!("<code>{}</code> on", seen["id"].as_str().unwrap())),
        "{}",
        page.body
    );
    drop(worker);
}

/// Over TLS with a private CA, as an ACL user that may touch only the
/// queues' keys and channels: the dashboard works, and its password shows
/// nowhere.
#[test]
fn it_works_over_tls_as_a_restricted_user_and_never_shows_the_password() {
    const PASSWORD: &str = "dashboard-pw-41c9";
    let redis = thoonk_testkit::PrivateRedis::start_tls().expect("start a TLS redis-server");
    redis.add_user("dash", PASSWORD, common::APP_RULES).unwrap();
    let url = redis.url_as("dash", PASSWORD);
    let ca = redis.ca_path().unwrap();
    let ca = ca.to_str().unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["--redis", url.as_str(), "--tls-ca", ca];
        all.extend_from_slice(args);
        common::command(&all)
    };
    common::run(cli(&["publish", "secure", "x", "--id", "s1"]), b"").assert_success();
    let process = Background::spawn(cli(&["dashboard", "--listen", "127.0.0.1:0"]));
    let addr = process.dashboard_addr();
    let get = |path: &str| Request::new(&addr, "GET", path).send();
    let overview: Value = serde_json::from_str(&get("/api/queues").body).unwrap();
    assert_eq!(
        line(&overview, "secure").map(|q| &q["available"]),
        Some(&Value::from(1)),
        "{overview}"
    );
    for path in [
        "/",
        "/queues/secure",
        "/queues/secure/jobs/s1",
        "/metrics",
        "/api/queues",
    ] {
        let page = get(path);
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains(PASSWORD), "{path} shows the password");
    }
    let out = process.terminate();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "{out:?}"
    );
}

#[test]
fn progress_and_the_oldest_wait_show_on_pages_in_the_api_and_in_metrics() {
    let d = Dashboard::start(None);
    d.redis.publish("mail", "x", &["--id", "busy"]);
    d.redis.publish("mail", "y", &["--id", "waiting"]);
    let claim = d.redis.get("mail");
    assert_eq!(claim.id, "busy");
    d.redis
        .thoonk(&[
            "progress",
            "mail",
            "busy",
            r#"{"done":3}"#,
            "--token",
            &claim.token,
        ])
        .assert_success();

    // The claimed job's progress: in its listing and on its page.
    let listed = d.json("/api/queues/mail/jobs?state=claimed");
    assert_eq!(
        listed[0]["progress"],
        serde_json::json!({"done": 3}),
        "{listed}"
    );
    let page = d.get("/queues/mail?state=claimed");
    assert!(
        page.body.contains(
            r#"<span class="progress">progress <code>{&quot;done&quot;:3}</code></span>"#
        ),
        "{}",
        page.body
    );
    let job = d.get("/queues/mail/jobs/busy");
    assert!(
        job.body
            .contains(r#"<dd id="progress">{&quot;done&quot;:3}</dd>"#),
        "{}",
        job.body
    );

    // The other job waits: its wait reaches the overview and the metrics.
    let overview = d.until("the wait is seen", |o| {
        line(o, "mail").is_some_and(|q| q["latency_ms"].as_u64() > Some(0))
    });
    let waited = line(&overview, "mail").unwrap()["latency_ms"]
        .as_u64()
        .unwrap();
    let metrics = d.get("/metrics");
    let gauge = metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix(r#"thoonk_queue_latency_seconds{queue="mail"} "#))
        .unwrap_or_else(|| panic!("no latency gauge:\n{}", metrics.body));
    let seconds: f64 = gauge.parse().expect("seconds");
    assert!(
        seconds >= waited as f64 / 1000.0,
        "{seconds} s, {waited} ms"
    );
    assert!(metrics
        .body
        .contains("# TYPE thoonk_queue_latency_seconds gauge"));
    assert!(d.get("/").body.contains(r#"<td class="n latency">"#));
}

/// The queue page's "finished" tab lists the jobs the queue keeps, the API
/// gives them (`state=finished`), and a kept job's page shows its record.
#[test]
fn the_finished_tab_shows_the_kept_history() {
    let d = Dashboard::start(None);
    let empty = d.get("/queues/mail?state=finished");
    assert_eq!(empty.status, 200);
    assert!(
        empty.body.contains("No finished job kept"),
        "{}",
        empty.body
    );
    d.redis
        .thoonk(&["config", "mail", "--keep-finished", "10"])
        .assert_success();
    d.redis.publish("mail", "x", &["--id", "j1"]);
    let claim = d.redis.get("mail");
    d.redis
        .thoonk(&["finish", "mail", "j1", "<sent>", "--token", &claim.token])
        .assert_success();

    let page = d.get("/queues/mail?state=finished");
    assert!(page.body.contains(r#"<tr data-id="j1">"#), "{}", page.body);
    assert!(page.body.contains("&lt;sent&gt;"), "escaped: {}", page.body);
    assert!(page.body.contains(r#"data-state="finished""#));
    let listed = d.json("/api/queues/mail/jobs?state=finished");
    assert_eq!(listed[0]["id"], "j1", "{listed}");
    assert_eq!(listed[0]["result"], "<sent>");
    assert!(listed[0]["duration_ms"].is_u64() && listed[0]["finished_ms"].is_u64());

    let job = d.get("/queues/mail/jobs/j1");
    assert_eq!(job.status, 200);
    assert!(
        job.body.contains(r#"<dd id="state">finished</dd>"#) && job.body.contains("Last finish"),
        "{}",
        job.body
    );
    let detail = d.json("/api/queues/mail/jobs/j1");
    assert_eq!(detail["state"], "finished", "{detail}");
    assert_eq!(detail["finished"]["result"], "<sent>");
}
