//! `thoonk dashboard` in a real browser: headless Chromium driven through
//! chromedriver (W3C WebDriver, JSON over HTTP, spoken here over a plain
//! socket), against the real binary and a private Redis; and the same
//! dashboard mounted under a prefix of an app of its own. What the HTTP
//! tests cannot show: that the page's script keeps the page current from
//! the live stream, that its buttons work, and that every URL it builds
//! stays under the prefix.
//!
//! Needs `chromium` and `chromedriver` on PATH (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs them). Screenshots go to
//! `target/test-artifacts/`; with `THOONK_UPDATE_SCREENSHOT=1` the overview's
//! also replaces the README's `docs/dashboard.png`.

mod common;
// Its WebDriver client, beside it (a test crate's root finds modules in
// tests/, where cargo would take each file for a test of its own).
#[path = "browser/driver.rs"]
mod driver;

use common::dashboard::Dashboard;
use common::held::{fail, GATED};
use common::mounted::Door;
use common::worker::WorkerProcess;
use common::Redis;
use driver::{Browser, ARTIFACTS};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use thoonk::{ConfigChange, Rate};
use thoonk_testkit::TempDir;

const README_SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dashboard.png");

#[test]
fn a_job_stalled_elsewhere_shows_up_live_and_its_retry_button_puts_it_back() {
    let browser = Browser::start();
    let d = Dashboard::start(None);
    for id in ["m1", "m2", "m3"] {
        d.redis
            .publish("mail", &format!("mail {id}"), &["--id", id]);
    }

    // The overview lists the queue with its counts. (A queue that appears
    // after the dashboard started joins the overview at its next sample;
    // the page learns of it from the live stream.)
    browser.open(&d.url("/"));
    let row = r#"tr[data-queue="mail"]"#;
    browser.until_text(&format!("{row} td.available"), "3");
    for (state, n) in [("claimed", "0"), ("delayed", "0"), ("stalled", "0")] {
        assert_eq!(
            browser.text(&format!("{row} td.{state}")).as_deref(),
            Some(n),
            "{state}"
        );
    }
    assert_eq!(
        browser
            .text(&format!(r#"{row} a[href="/queues/mail"]"#))
            .as_deref(),
        Some("mail")
    );

    // The queue's stalled jobs: none yet.
    browser.open(&d.url("/queues/mail?state=stalled"));
    assert_eq!(
        browser.js("return document.querySelectorAll('#jobs tbody tr').length"),
        0
    );
    assert_eq!(
        browser.js("return document.getElementById('no-jobs').hidden"),
        false
    );
    assert_eq!(browser.text("#count-stalled").as_deref(), Some("0"));
    assert_eq!(browser.text("#count-available").as_deref(), Some("3"));
    // Follows the live stream (the dot turns on once it is open).
    browser.until(
        "the live stream is open",
        "return document.getElementById('live').classList.contains('on')",
        |v| v == true,
    );
    // Anything that reloaded the page would drop this.
    browser.js("window.__marker = 42");

    // A worker elsewhere claims a job and stalls it: the page shows it, by
    // itself.
    let claim = d.redis.get("mail");
    assert_eq!(claim.id, "m1", "the oldest job is claimed first");
    d.redis
        .thoonk(&["stall", "mail", &claim.id, "--token", &claim.token])
        .assert_success();
    let stalled_row = format!(r#"#jobs tbody tr[data-id="{}"]"#, claim.id);
    browser.until_present(&stalled_row, true);
    browser.until_text("#count-stalled", "1");
    browser.until_text("#count-available", "2");
    assert_eq!(
        browser.text(&format!("{stalled_row} td.item")).as_deref(),
        Some("mail m1")
    );
    assert_eq!(
        browser.js("return document.getElementById('no-jobs').hidden"),
        true
    );
    let buttons = browser.js_with(
        "return [...document.querySelectorAll(arguments[0] + ' button')].map(b => b.dataset.action)",
        json!([stalled_row]),
    );
    assert_eq!(buttons, json!(["retry", "retract"]));
    browser.screenshot(&Path::new(ARTIFACTS).join("dashboard.png"));

    // Retry, by clicking its button: the row leaves the list, the job is
    // back in the queue.
    browser.click(&format!(
        r#"button[data-action="retry"][data-id="{}"]"#,
        claim.id
    ));
    browser.until_present(&stalled_row, false);
    browser.until_text("#flash", "m1: retried: back in the queue");
    assert_eq!(
        browser.js("return document.getElementById('flash').className"),
        "ok"
    );
    browser.until_text("#count-stalled", "0");
    browser.until_text("#count-available", "3");
    assert_eq!(
        browser.js("return document.getElementById('no-jobs').hidden"),
        false
    );
    let stats = d.redis.stats("mail");
    assert_eq!(
        (
            stats["available"].as_u64(),
            stats["claimed"].as_u64(),
            stats["stalled"].as_u64()
        ),
        (Some(3), Some(0), Some(0)),
        "{stats}"
    );
    assert!(d.redis.ids("mail", "available").contains(&claim.id));

    // All of it without a reload, and without a script error.
    assert_eq!(
        browser.js("return window.__marker"),
        42,
        "the page was reloaded"
    );
    browser.assert_no_console_errors();
}

#[test]
fn the_overview_shows_queues_with_jobs_in_every_state() {
    let redis = Redis::start();
    // mail: 3 available, 1 claimed, 1 stalled, 1 delayed.
    for id in ["m1", "m2", "m3", "m4", "m5"] {
        redis.publish(
            "mail",
            &format!(r#"{{"to":"{id}@example.com"}}"#),
            &["--id", id],
        );
    }
    redis.publish("mail", "later", &["--delay", "3600"]);
    redis.get("mail");
    let stall = redis.get("mail");
    redis
        .thoonk(&["stall", "mail", &stall.id, "--token", &stall.token])
        .assert_success();
    // sms: 2 available, 2 claimed.
    for n in 0..4 {
        redis.publish("sms", &format!("text {n}"), &[]);
    }
    redis.get("sms");
    redis.get("sms");
    // reports: delayed only, with a worker waiting for them.
    for n in 0..2 {
        redis.publish("reports", &format!("report {n}"), &["--delay", "3600"]);
    }
    let _worker = redis.spawn(&["work", "reports", "--", "cat"]);
    // thumbnails: stalled only.
    for n in 0..3 {
        redis.publish("thumbnails", &format!("image {n}"), &[]);
        let claim = redis.get("thumbnails");
        redis
            .thoonk(&["stall", "thumbnails", &claim.id, "--token", &claim.token])
            .assert_success();
    }

    let browser = Browser::start();
    let d = Dashboard::on(redis, None);
    browser.open(&d.url("/"));
    let expected = [
        ("mail", ["3", "1", "1", "1", "0"]),
        ("sms", ["2", "2", "0", "0", "0"]),
        ("reports", ["0", "0", "2", "0", "1"]),
        ("thumbnails", ["0", "0", "0", "3", "0"]),
    ];
    for (queue, counts) in expected {
        for (column, n) in ["available", "claimed", "delayed", "stalled", "workers"]
            .iter()
            .zip(counts)
        {
            browser.until_text(&format!(r#"tr[data-queue="{queue}"] td.{column}"#), n);
        }
    }
    let order = browser
        .js("return [...document.querySelectorAll('#queues tbody tr')].map(r => r.dataset.queue)");
    assert_eq!(order, json!(["mail", "reports", "sms", "thumbnails"]));
    browser.until(
        "the worker is listed",
        "return document.querySelector('#workers li')?.textContent",
        |v| v.as_str().is_some_and(|t| t.contains(" on reports")),
    );
    browser.assert_no_console_errors();

    browser.screenshot(&Path::new(ARTIFACTS).join("overview.png"));
    if std::env::var_os("THOONK_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        browser.screenshot(Path::new(README_SCREENSHOT));
    }
}

#[test]
fn the_pause_and_resume_buttons_work_and_a_paused_queue_is_marked_live() {
    let browser = Browser::start();
    let d = Dashboard::start(None);
    d.redis.publish("mail", "mail m1", &["--id", "m1"]);
    d.redis.publish("sms", "sms s1", &[]);

    // The queue page shows the settings and offers to pause.
    browser.open(&d.url("/queues/mail"));
    browser.until(
        "the live stream is open",
        "return document.getElementById('live').classList.contains('on')",
        |v| v == true,
    );
    browser.js("window.__marker = 42");
    assert_eq!(browser.text("#setting-paused").as_deref(), Some("no"));
    assert_eq!(browser.text("#setting-rate").as_deref(), Some("none"));
    assert_eq!(
        browser.text("#setting-lease").as_deref(),
        Some("30s (default)")
    );
    let shown =
        "return ['pause', 'resume', 'paused-mark'].map(id => !document.getElementById(id).hidden)";
    assert_eq!(browser.js(shown), json!([true, false, false]));

    // Pause, by clicking: the queue is paused, the page says so and offers
    // to resume.
    browser.click("#pause");
    browser.until_text(
        "#flash",
        "paused: no job is handed out until it is resumed; publishing goes on",
    );
    browser.until_text("#setting-paused", "yes");
    assert_eq!(browser.js(shown), json!([false, true, true]));
    assert!(d.redis.config("mail").paused);
    browser.screenshot(&Path::new(ARTIFACTS).join("paused.png"));

    // Resume, by clicking.
    browser.click("#resume");
    browser.until_text("#flash", "resumed: jobs are handed out again");
    browser.until_text("#setting-paused", "no");
    assert_eq!(browser.js(shown), json!([true, false, false]));
    assert!(!d.redis.config("mail").paused);

    // Settings changed elsewhere reach the page by themselves (with the
    // pause's event; a new limit alone would wait for the overview's next
    // sample).
    d.redis.configure(
        "mail",
        ConfigChange::new()
            .rate(Some(Rate::new(100, Duration::from_secs(1))))
            .lease(Duration::from_secs(90))
            .paused(true),
    );
    browser.until_text("#setting-rate", "100/s");
    browser.until_text("#setting-lease", "90s");
    assert_eq!(browser.js(shown), json!([false, true, true]));
    assert_eq!(
        browser.js("return window.__marker"),
        42,
        "the page was reloaded"
    );

    // The overview marks the paused queue, and follows a resume and a
    // pause made elsewhere without a reload.
    browser.open(&d.url("/"));
    let mark = |queue: &str| format!(r#"tr[data-queue="{queue}"] td.name .paused"#);
    browser.until_text(r#"tr[data-queue="sms"] td.available"#, "1");
    assert_eq!(browser.text(&mark("mail")).as_deref(), Some("paused"));
    assert_eq!(browser.text(&mark("sms")), None);
    browser.js("window.__marker = 43");
    d.redis.configure("mail", ConfigChange::new().paused(false));
    browser.until_present(&mark("mail"), false);
    d.redis.configure("sms", ConfigChange::new().paused(true));
    browser.until_text(&mark("sms"), "paused");
    assert_eq!(
        browser.js("return window.__marker"),
        43,
        "the page was reloaded"
    );
    browser.assert_no_console_errors();
}

#[test]
fn the_panels_show_the_server_the_workers_at_work_and_the_reasons_with_a_working_link() {
    let redis = Redis::start();
    for id in ["r1", "r2", "r3"] {
        redis.publish("mail", id, &["--id", id]);
    }
    fail(
        &redis,
        "mail",
        &[
            ("r1", false, "SMTP 550 for user 17"),
            ("r2", false, "SMTP 550 for user 23"),
            ("r3", true, "bad address"),
        ],
    );
    let dir = TempDir::new("panels").unwrap();
    let gate = dir.file("gate");
    for id in ["w1", "w2"] {
        redis.publish("work", id, &["--id", id]);
    }
    let worker = WorkerProcess::start(
        &redis,
        "work",
        &["--concurrency", "4"],
        &["sh", "-c", GATED],
        &[("GATE", gate.as_str())],
    );
    let version = redis.version();

    let browser = Browser::start();
    let d = Dashboard::on(redis, None);
    browser.open(&d.url("/"));
    // The server, and each queue's memory.
    browser.until_text("#server td.version", &version);
    browser.until_present(r#"#queue-memory tr[data-queue="mail"] td.bytes"#, true);
    // The worker, its concurrency and its two jobs, running longer and
    // longer as the live stream brings new readings.
    let row = format!(r#"#at-work tr[data-worker="{}"]"#, worker.id());
    browser.until_text(&format!("{row} td.holding"), "2");
    assert_eq!(
        browser.text(&format!("{row} td.concurrency")).as_deref(),
        Some("4")
    );
    let running = format!(
        "return [...document.querySelectorAll('{row} span.running')].map(s => Number(s.dataset.ms))"
    );
    let first = browser.until("both jobs listed", &running, |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    });
    browser.until("the jobs have run longer", &running, |v| {
        v.as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter()
                    .zip(first.as_array().unwrap())
                    .all(|(n, f)| n.as_u64() > f.as_u64())
        })
    });
    // The reasons, grouped; the group's link lists its jobs, and no other.
    let group = r#"#failures tr[data-queue="mail"] a.reason"#;
    browser.until_text(group, "SMTP # for user #");
    browser.screenshot(&Path::new(ARTIFACTS).join("panels.png"));
    browser.click(group);
    browser.until_present(r#"#jobs tbody tr[data-id="r1"]"#, true);
    browser.until_present(r#"#jobs tbody tr[data-id="r2"]"#, true);
    assert_eq!(
        browser.text("#reason-filter code").as_deref(),
        Some("SMTP # for user #")
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('#jobs tbody tr').length"),
        2
    );
    browser.screenshot(&Path::new(ARTIFACTS).join("reason.png"));
    browser.assert_no_console_errors();
    dir.touch("gate");
}

/// Where the mounted dashboard lives in its app.
const PREFIX: &str = "/admin/queues";

/// Every URL the page names (links, forms, scripts, styles; inline `data:`
/// ones aside) that is not under [`PREFIX`].
const OUTSIDE: &str = "return [...document.querySelectorAll('a[href], form[action], script[src], link[href]')]
    .map(e => e.getAttribute('href') ?? e.getAttribute('action') ?? e.getAttribute('src'))
    .filter(u => !u.startsWith('data:') && u !== arguments[0] && !u.startsWith(arguments[0] + '/'))";

#[test]
fn mounted_under_a_prefix_behind_basic_auth_it_works_and_asks_for_nothing_outside_it() {
    let browser = Browser::start();
    let d = Dashboard::mounted(PREFIX, Door::Basic("admin", "s3cret"));
    for id in ["m1", "m2"] {
        d.redis
            .publish("mail", &format!("mail {id}"), &["--id", id]);
    }

    // The app's basic auth, given in the URL as a bookmark would: Chromium
    // answers the app's challenges with it, for the page and for every
    // request the page makes (headless Chromium has no prompt to type it
    // into). The page's own URL then carries the credentials, and fetch()
    // refuses such URLs: the script asks by origin and path.
    browser.open(&format!("http://admin:s3cret@{}{PREFIX}", d.addr));
    // The queue was published to after the app started: its row comes
    // from the live stream, built by the script.
    let row = r#"tr[data-queue="mail"]"#;
    browser.until_text(&format!("{row} td.available"), "2");
    browser.until(
        "the live stream is open",
        "return document.getElementById('live').classList.contains('on')",
        |v| v == true,
    );
    assert_eq!(browser.js_with(OUTSIDE, json!([PREFIX])), json!([]));

    // Its link leads to the queue's page, under the prefix.
    browser.click(&format!("{row} td.name a"));
    browser.until(
        "the queue's page is open",
        "return location.pathname",
        |v| v == "/admin/queues/queues/mail",
    );
    browser.until(
        "the live stream is open",
        "return document.getElementById('live').classList.contains('on')",
        |v| v == true,
    );
    browser.js("window.__marker = 42");

    // A job published elsewhere shows, by itself: the count, and its row
    // (the script fetches the listing again).
    d.redis.publish("mail", "mail m3", &["--id", "m3"]);
    browser.until_text("#count-available", "3");
    browser.until_present(r#"#jobs tbody tr[data-id="m3"]"#, true);

    // Pause, by clicking: the queue is paused, the page says so.
    browser.click("#pause");
    browser.until_text(
        "#flash",
        "paused: no job is handed out until it is resumed; publishing goes on",
    );
    browser.until_text("#setting-paused", "yes");
    assert!(d.redis.config("mail").paused);

    // Every URL the page names now (its links to jobs built by the script
    // among them) is under the prefix, and so was every request the app
    // got: pages, style, script, listings, actions, live streams.
    assert_eq!(browser.js_with(OUTSIDE, json!([PREFIX])), json!([]));
    let seen = d.app().seen();
    let outside: Vec<&String> = seen.iter().filter(|p| !p.starts_with(PREFIX)).collect();
    assert!(outside.is_empty(), "requests outside {PREFIX}: {outside:?}");
    for asked in [
        "/admin/queues/api/live",
        "/admin/queues/api/live/mail",
        "/admin/queues/api/queues/mail/jobs?state=available&offset=0&limit=50",
        "/admin/queues/api/queues/mail/pause",
    ] {
        assert!(seen.iter().any(|p| p == asked), "{asked} not in {seen:?}");
    }
    assert_eq!(
        browser.js("return window.__marker"),
        42,
        "the page was reloaded"
    );
    browser.assert_no_console_errors();
}

/// With a token, through the forms a person uses: the login form lets the
/// right token in (the browser sends its own form's POST with whatever
/// `Origin` the page's referrer policy allows: under `no-referrer` it was
/// `null`, and the form was refused), and the logout form ends that login
/// (the page is the login form again, even when opened anew).
#[test]
fn the_login_and_logout_forms_work_in_a_real_browser() {
    const TOKEN: &str = "browser-token-0123456789";
    let browser = Browser::start();
    let d = Dashboard::start(Some(TOKEN));
    d.redis.publish("mail", "hello", &["--id", "m1"]);

    browser.open(&d.url("/"));
    let path = "return location.pathname";
    browser.until("sent to the login form", path, |v| v == "/login");
    browser.type_into(r#"input[name="token"]"#, TOKEN);
    browser.click(r#"form[action="/login"] button[type="submit"]"#);
    browser.until("back on the overview", path, |v| v == "/");
    browser.until_text(r#"tr[data-queue="mail"] td.available"#, "1");

    browser.click("form.logout button");
    browser.until("logged out, on the login form", path, |v| v == "/login");
    browser.open(&d.url("/"));
    browser.until("still logged out", path, |v| v == "/login");
    browser.assert_no_console_errors();
}

/// Publishes 10 jobs and finishes 6, by hand, on a server whose clock the
/// test moves: 4 held 150 ms, then, two minutes on, 2 held 700 ms (a job
/// finished by hand counts from its claim), so p50 lies in (128, 256] ms
/// and p95 in (512, 1024].
fn write_history(redis: &Redis) {
    common::block_on(async {
        let thoonk = thoonk::Thoonk::connect(&redis.url())
            .await
            .expect("connect");
        let q = thoonk.queue("mail").expect("a queue name");
        q.publish_many((0..10).map(|i| format!("mail {i}")))
            .await
            .expect("publish");
        for (n, ms) in [(4, 150), (2, 700)] {
            let jobs = q.claim(n).await.expect("claim");
            redis
                .server()
                .clock()
                .advance(Duration::from_millis(ms))
                .expect("move the clock");
            for job in &jobs {
                q.finish(job).await.expect("finish");
            }
            // The next batch two minutes on: the charts add up minutes.
            redis
                .server()
                .clock()
                .advance(Duration::from_secs(120))
                .expect("move the clock");
        }
    });
}

/// What a dashboard shows of the tally: the overview's chart, the queue
/// page's three charts and its run times.
fn tally_shown(browser: &Browser, d_url: impl Fn(&str) -> String) -> Vec<String> {
    browser.open(&d_url("/"));
    browser.until_text(
        r#"tr[data-queue="mail"] td.rates svg title"#,
        "last hour: 10 published, 6 finished",
    );
    browser.open(&d_url("/queues/mail"));
    let mut shown = Vec::new();
    for chart in ["chart-day", "chart-week", "chart-90d"] {
        for what in ["published", "finished"] {
            let text = browser.text(&format!("#{chart} .{what}"));
            shown.push(format!("{chart} {what} {}", text.unwrap_or_default()));
        }
    }
    for figure in ["count", "p50", "p95", "max"] {
        let text = browser.text(&format!("#duration-{figure}"));
        shown.push(format!("{figure} {}", text.unwrap_or_default()));
    }
    shown
}

/// The ms of a figure shown as `N ms`.
fn shown_ms(shown: &[String], figure: &str) -> u64 {
    let line = shown
        .iter()
        .find(|l| l.starts_with(&format!("{figure} ")))
        .unwrap();
    line[figure.len() + 1..]
        .trim_end_matches(" ms")
        .parse()
        .unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn charts_and_run_times_come_from_redis_the_same_after_a_restart() {
    let browser = Browser::start();
    let redis = Redis::start_clocked();
    // All of it before any dashboard runs: none saw it happen.
    write_history(&redis);
    let mut d = Dashboard::on(redis, None);
    let first = tally_shown(&browser, |p| d.url(p));
    browser.screenshot(&Path::new(ARTIFACTS).join("queue-tally.png"));
    for chart in ["chart-day", "chart-week", "chart-90d"] {
        assert!(
            first.contains(&format!("{chart} published 10")),
            "{first:?}"
        );
        assert!(first.contains(&format!("{chart} finished 6")), "{first:?}");
    }
    assert!(first.contains(&"count 6".to_string()), "{first:?}");
    assert!((128..=256).contains(&shown_ms(&first, "p50")), "{first:?}");
    assert!((512..=1024).contains(&shown_ms(&first, "p95")), "{first:?}");
    // Exact but for the ms the test's own calls took (each run is held
    // well inside its bucket: a loaded machine adds to it).
    assert!((700..800).contains(&shown_ms(&first, "max")), "{first:?}");

    // Another dashboard, started afresh: the same numbers. (The page
    // leaves first: its stream would fail when the server goes.)
    browser.open("about:blank");
    d.stop();
    let again = d.redis.spawn(&["dashboard", "--listen", "127.0.0.1:0"]);
    let addr = again.dashboard_addr();
    let second = tally_shown(&browser, |p| format!("http://{addr}{p}"));
    assert_eq!(first, second);
    browser.assert_no_console_errors();
}
