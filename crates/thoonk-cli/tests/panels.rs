//! The overview's panels over HTTP (issue 18): the workers at work (their
//! concurrency, the jobs each holds and for how long), failures at a
//! glance (reasons grouped, each linked to the jobs that carry it), and
//! the server (Redis's version, memory, and each queue's). The real
//! binaries (`thoonk dashboard`, `thoonk work`) against a private Redis.

mod common;

use common::dashboard::Dashboard;
use common::held::{fail, GATED};
use common::worker::WorkerProcess;
use serde_json::Value;
use thoonk_testkit::poll::{poll, DEADLINE};
use thoonk_testkit::TempDir;

/// Polls `/api/panels` until `pick` finds something in it.
#[track_caller]
fn panels_until<T>(d: &Dashboard, what: &str, pick: impl Fn(&Value) -> Option<T>) -> T {
    let mut last = Value::Null;
    poll(DEADLINE, || {
        last = d.json("/api/panels");
        pick(&last)
    })
    .unwrap_or_else(|| panic!("{what}: not so after {DEADLINE:?}: {last}"))
}

/// The panel's row of worker `id`.
fn worker<'a>(panels: &'a Value, id: &str) -> Option<&'a Value> {
    panels["workers"]["workers"]
        .as_array()?
        .iter()
        .find(|w| w["id"] == id)
}

/// Job id -> how long it has run (ms), of a worker's row.
fn running(row: &Value) -> Vec<(String, u64)> {
    let mut jobs: Vec<(String, u64)> = row["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_string(),
                j["running_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    jobs.sort();
    jobs
}

#[test]
fn a_worker_shows_its_concurrency_and_the_jobs_it_holds_running_longer_and_longer() {
    let d = Dashboard::start(None);
    let dir = TempDir::new("panels").unwrap();
    let gate = dir.file("gate");
    for id in ["j1", "j2", "j3"] {
        d.redis.publish("mail", id, &["--id", id]);
    }
    let w = WorkerProcess::start(
        &d.redis,
        "mail",
        &["--concurrency", "7"],
        &["sh", "-c", GATED],
        &[("GATE", gate.as_str())],
    );
    let first = panels_until(&d, "the worker holds its 3 jobs", |p| {
        worker(p, w.id()).filter(|row| row["holding"] == 3).cloned()
    });
    assert_eq!(first["about"]["concurrency"], 7, "{first}");
    assert_eq!(first["about"]["pid"], w.pid(), "{first}");
    assert_eq!(first["about"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(first["about"]["started_ms"].as_u64() > Some(0));
    assert_eq!(first["queues"], serde_json::json!(["mail"]));
    let before = running(&first);
    assert_eq!(
        before.iter().map(|j| j.0.as_str()).collect::<Vec<_>>(),
        ["j1", "j2", "j3"]
    );
    assert!(
        first["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["exact"] == true),
        "{first}"
    );
    // Their running times grow from one reading to the next, past the
    // heartbeat's second: each is measured from its claim (on Redis's
    // clock), which the leases' extensions leave as it was.
    panels_until(&d, "each job has run longer, past a heartbeat", |p| {
        let now = running(worker(p, w.id())?);
        let longer = now
            .iter()
            .zip(&before)
            .all(|(a, b)| a.0 == b.0 && a.1 > b.1);
        (now.len() == 3 && longer && now.iter().all(|j| j.1 > 2_500)).then_some(())
    });
    let page = d.get("/");
    let row = format!(r#"<tr data-worker="{}">"#, w.id());
    assert!(page.body.contains(&row), "{}", page.body);
    assert!(page.body.contains(r#"<td class="n concurrency">7</td>"#));
    assert!(page.body.contains(r#"<td class="n holding">3</td>"#));
    assert!(page
        .body
        .contains(r#"<a href="/queues/mail/jobs/j1"><code>j1</code></a>"#));

    // Done: it holds nothing; stopped: it is gone, and so is what it said
    // of itself.
    dir.touch("gate");
    panels_until(&d, "the worker holds nothing", |p| {
        worker(p, w.id())
            .filter(|row| row["holding"] == 0)
            .map(drop)
    });
    let id = w.id().to_string();
    w.terminate();
    panels_until(&d, "the worker is gone", |p| {
        worker(p, &id).is_none().then_some(())
    });
    let infos = || {
        d.redis
            .query(&["HLEN", "job.worker_info:mail"])
            .int()
            .unwrap()
    };
    assert_eq!(infos(), 0);

    // One that dies without a word: recovery drops what it said of itself
    // with its liveness mark, once the mark ran out.
    let mut dead = WorkerProcess::start(&d.redis, "mail", &[], &["cat"], &[]);
    panels_until(&d, "the second worker shows", |p| {
        worker(p, dead.id()).map(drop)
    });
    assert_eq!(infos(), 1);
    dead.kill();
    panels_until(&d, "the dead worker's record is gone", |_| {
        (infos() == 0).then_some(())
    });
}

/// Job ids as the API lists them, sorted.
fn ids(listed: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids
}

#[test]
fn reasons_are_grouped_with_counts_and_each_links_to_the_jobs_that_carry_it() {
    let d = Dashboard::start(None);
    for id in ["a1", "a2", "a3", "a4", "a5"] {
        d.redis.publish("mail", id, &["--id", id]);
    }
    fail(
        &d.redis,
        "mail",
        &[
            ("a1", false, "SMTP 550 for user 17"),
            ("a2", false, "SMTP 550 for user 23"),
            ("a3", true, "SMTP 550 for user 99"),
            ("a4", true, "bad address"),
        ],
    );
    let mail = panels_until(&d, "mail's reasons", |p| {
        p["failures"]
            .as_array()?
            .iter()
            .find(|q| q["queue"] == "mail")
            .cloned()
    });
    let groups: Vec<(&str, u64)> = mail["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["reason"].as_str().unwrap(), g["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        groups,
        [("SMTP # for user #", 3), ("bad address", 1)],
        "{mail}"
    );
    assert_eq!(
        (mail["sampled"].as_u64(), mail["total"].as_u64()),
        (Some(4), Some(4))
    );
    // Two cancels and two stalls, in the last hour and so in the last day
    // (from the queue's tally).
    let failed = serde_json::json!({"cancels": 2, "stalls": 2});
    assert_eq!(
        mail["recent"],
        serde_json::json!({"hour": failed, "day": failed}),
        "{mail}"
    );

    let link = "/queues/mail?reason=SMTP%20%23%20for%20user%20%23";
    let overview = d.get("/");
    assert!(
        overview.body.contains(&format!(r#"href="{link}""#)),
        "{}",
        overview.body
    );
    // The link lists the jobs of the group, in whatever state each is now
    // (a1, a2 back in the queue, a3 stalled), and no other.
    let page = d.get(link);
    assert_eq!(page.status, 200);
    for id in ["a1", "a2", "a3"] {
        assert!(
            page.body.contains(&format!(r#"<tr data-id="{id}">"#)),
            "{id}: {}",
            page.body
        );
    }
    for id in ["a4", "a5"] {
        assert!(
            !page.body.contains(&format!(r#"<tr data-id="{id}">"#)),
            "{id}"
        );
    }
    let api = d.json("/api/queues/mail/jobs?reason=SMTP%20%23%20for%20user%20%23");
    assert_eq!(ids(&api), ["a1", "a2", "a3"]);
    let stalled = d.json("/api/queues/mail/jobs?reason=bad%20address");
    assert_eq!(ids(&stalled), ["a4"]);
    assert_eq!(
        stalled[0]["actions"],
        serde_json::json!(["retry", "retract"])
    );
    assert_eq!(
        d.json("/api/queues/mail/jobs?reason=nothing%20like%20it"),
        serde_json::json!([])
    );
}

#[test]
fn a_large_hash_of_reasons_is_sampled_and_says_so() {
    let d = Dashboard::start(None);
    d.redis.publish("big", "x", &[]);
    let mut hset = vec!["HSET".to_string(), "job.reasons:big".to_string()];
    for n in 0..1_500 {
        hset.extend([format!("gone{n}"), format!("timed out after {n}s")]);
    }
    let args: Vec<&str> = hset.iter().map(String::as_str).collect();
    assert_eq!(d.redis.query(&args).int().unwrap(), 1_500);
    let big = panels_until(&d, "big's reasons", |p| {
        p["failures"]
            .as_array()?
            .iter()
            .find(|q| q["queue"] == "big")
            .cloned()
    });
    assert_eq!(
        (big["sampled"].as_u64(), big["total"].as_u64()),
        (Some(1_000), Some(1_500))
    );
    assert_eq!(big["groups"][0]["reason"], "timed out after #");
    assert_eq!(big["groups"][0]["count"], 1_000);
    assert!(d.get("/").body.contains("(of a sample of 1000/1500)"));
}

#[test]
fn the_server_panel_has_the_redis_version_and_each_queues_memory() {
    let d = Dashboard::start(None);
    d.redis.publish("mail", &"x".repeat(10_000), &[]);
    let version = d.redis.version();
    let panels = panels_until(&d, "mail's memory", |p| {
        let mail = p["server"]["memory"]
            .as_array()?
            .iter()
            .find(|m| m["queue"] == "mail")?;
        Some((p.clone(), mail.clone()))
    });
    let (panels, mail) = panels;
    let server = &panels["server"]["servers"][0];
    assert_eq!(server["version"], version.as_str(), "{panels}");
    assert!(server["used_memory"].as_u64() > Some(0));
    assert!(server["used_memory_peak"].as_u64() >= server["used_memory"].as_u64());
    assert!(server["connected_clients"].as_u64() >= Some(1));
    // The 10 kB payload is in it.
    assert!(mail["bytes"].as_u64() > Some(10_000), "{mail}");
    assert!(mail["keys"].as_u64() >= Some(3), "{mail}");
    let page = d.get("/");
    assert!(
        page.body
            .contains(&format!(r#"<td class="version">{version}</td>"#)),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<table id="queue-memory">"#));
}
