//! Integration tests of the `thoonk` binary: each test starts its own
//! private `redis-server` and runs the real binary against it.
//!
//! Nothing here sleeps in place of synchronisation: background children
//! (`events`, a blocked `get`, `publish --wait`) are followed by reading
//! their stdout lines or by polling Redis (`PUBSUB NUMSUB`, `CLIENT LIST`)
//! with a deadline, and are killed on drop.

mod common;

use common::{command, run, Claim, Listed, Redis};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};
use thoonk_testkit::poll::until;

/// An id of 2000 bytes: over the 1024-byte limit. (An id with a NUL byte,
/// the other invalid kind, cannot be passed on a command line.)
fn overlong_id() -> String {
    "x".repeat(2000)
}

/// `stats` without `--json`: the (label, value) pairs, in order.
fn human_stats(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let pair = (
                words.next().expect("a label").to_string(),
                words.next().expect("a value").to_string(),
            );
            assert_eq!(words.next(), None, "two columns: {line:?}");
            pair
        })
        .collect()
}

// ---------------------------------------------------------------- publish

#[test]
fn publish_prints_a_fresh_id_and_queues_the_item() {
    let redis = Redis::start();
    let first = redis.publish("mail", "hello", &[]);
    let second = redis.publish("mail", "world", &[]);
    assert_eq!(first.len(), 12, "a generated id: {first:?}");
    assert!(
        first.chars().all(|c| c.is_ascii_alphanumeric()),
        "{first:?}"
    );
    assert_ne!(first, second);
    assert_eq!(
        redis.list("mail", "available"),
        [
            Listed::new(&first, "hello", 0),
            Listed::new(&second, "world", 0)
        ]
    );
    assert_eq!(redis.stats("mail")["publishes"], 2);
}

#[test]
fn publish_reads_the_payload_from_stdin_when_item_is_absent_or_dash() {
    let redis = Redis::start();
    let absent = redis
        .thoonk_stdin(&["publish", "mail"], b"line one\nline two\n")
        .line()
        .to_string();
    let dash = redis
        .thoonk_stdin(&["publish", "mail", "-"], b"from a dash")
        .line()
        .to_string();
    // An ITEM on the command line wins over stdin.
    let given = redis
        .thoonk_stdin(&["publish", "mail", "literal"], b"ignored")
        .line()
        .to_string();
    let first = redis.get("mail");
    assert_eq!(
        (first.id, first.item),
        (absent, "line one\nline two\n".into())
    );
    let second = redis.get("mail");
    assert_eq!((second.id, second.item), (dash, "from a dash".into()));
    let third = redis.get("mail");
    assert_eq!((third.id, third.item), (given, "literal".into()));
}

#[test]
fn publish_with_id_uses_that_id() {
    let redis = Redis::start();
    assert_eq!(redis.publish("mail", "hello", &["--id", "msg 7"]), "msg 7");
    let claim = redis.get("mail");
    assert_eq!((claim.id.as_str(), claim.item.as_str()), ("msg 7", "hello"));
}

#[test]
fn publish_priority_puts_the_job_at_the_front() {
    let redis = Redis::start();
    for (id, priority) in [
        ("a1", false),
        ("a2", false),
        ("p1", true),
        ("a3", false),
        ("p2", true),
    ] {
        let mut options = vec!["--id", id];
        if priority {
            options.push("--priority");
        }
        redis.publish("q", &format!("item {id}"), &options);
    }
    // The last priority job first, then the other priority job, then the
    // rest oldest first.
    let order = ["p2", "p1", "a1", "a2", "a3"];
    assert_eq!(redis.ids("q", "available"), order);
    // Human listing in the same order.
    let human = redis.thoonk(&["list", "q", "available"]);
    let listed: Vec<&str> = human
        .assert_success()
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(listed, order);
    // And `get` hands them out in that order.
    let got: Vec<String> = order.iter().map(|_| redis.get("q").id).collect();
    assert_eq!(got, order);
}

#[test]
fn publish_wait_prints_the_result_after_a_worker_finishes() {
    let redis = Redis::start();
    let publisher = redis.spawn(&["publish", "mail", "payload", "--wait", "--timeout", "30"]);
    // The id comes first, before the wait.
    let id = publisher.next_line();
    // The worker's get waits (in Redis) until the job is published.
    let claim = redis.get("mail");
    assert_eq!(
        (claim.id.as_str(), claim.item.as_str()),
        (id.as_str(), "payload")
    );
    redis
        .thoonk(&[
            "finish",
            "mail",
            &id,
            "sent: 250 OK",
            "--token",
            &claim.token,
        ])
        .assert_success();
    let out = publisher.exit();
    assert_eq!(
        out.assert_success(),
        "sent: 250 OK\n",
        "the result is the second line"
    );
}

#[test]
fn publish_wait_times_out_with_exit_3_and_leaves_the_job_queued() {
    let redis = Redis::start();
    let started = Instant::now();
    let out = redis.thoonk(&["publish", "mail", "x", "--wait", "--timeout", "0.3"]);
    assert!(started.elapsed() >= Duration::from_millis(300), "{out:?}");
    let id = out
        .stdout
        .strip_suffix('\n')
        .expect("the id line")
        .to_string();
    assert!(!id.contains('\n'), "{out:?}");
    out.failed(3, &["mail", &id, "did not finish"]);
    assert_eq!(redis.ids("mail", "available"), [id]);
}

#[test]
fn publish_wait_fails_when_the_job_is_retracted() {
    let redis = Redis::start();
    let publisher = redis.spawn(&["publish", "mail", "x", "--wait", "--timeout", "30"]);
    let id = publisher.next_line();
    until("the job is published", || {
        redis.ids("mail", "available") == [id.clone()]
    });
    redis.thoonk(&["retract", "mail", &id]).assert_success();
    let out = publisher.exit();
    out.refused(&["mail", &id, "retracted"]);
}

// -------------------------------------------------------------------- get

#[test]
fn get_prints_one_json_line_with_id_item_cancelled_token_in_that_order() {
    let redis = Redis::start();
    redis.publish("mail", "héllo \"quoted\"\n", &["--id", "j1"]);
    let out = redis.thoonk(&["get", "mail"]);
    let line = out.line();
    assert!(line.starts_with(r#"{"id":"j1","item":"#), "{line}");
    // Claim::parse asserts the key order and the types.
    let claim = Claim::parse(line);
    assert_eq!(claim.id, "j1");
    assert_eq!(claim.item, "héllo \"quoted\"\n");
    assert_eq!(claim.cancelled, 0);
    assert_eq!(redis.ids("mail", "claimed"), ["j1"]);
    assert_eq!(redis.ids("mail", "available"), Vec::<String>::new());
    // Each claim has its own token.
    redis.thoonk(&["cancel", "mail", "j1"]).assert_success();
    assert_ne!(redis.get("mail").token, claim.token);
}

#[test]
fn get_waits_for_a_job_to_be_published() {
    let redis = Redis::start();
    let worker = redis.spawn(&["get", "mail", "--timeout", "30"]);
    until("the get is blocked in BLMOVE", || {
        redis.clients().lines().any(|c| c.contains("cmd=blmove"))
    });
    redis.publish("mail", "late", &["--id", "j1"]);
    let claim = Claim::parse(&worker.next_line());
    assert_eq!((claim.id.as_str(), claim.item.as_str()), ("j1", "late"));
    assert_eq!(worker.exit().assert_success(), "");
    assert_eq!(redis.ids("mail", "claimed"), ["j1"]);
}

#[test]
fn get_times_out_with_exit_3_on_an_empty_queue() {
    let redis = Redis::start();
    let started = Instant::now();
    let out = redis.thoonk(&["get", "mail", "--timeout", "0.2"]);
    assert!(started.elapsed() >= Duration::from_millis(200), "{out:?}");
    assert_eq!(out.stdout, "");
    out.failed(3, &["mail", "no job"]);
}

// -------------------------------------------------- finish, cancel, stall…

#[test]
fn finish_without_a_result_with_a_result_and_with_a_token() {
    let redis = Redis::start();
    for id in ["f1", "f2", "f3"] {
        redis.publish("q", id, &["--id", id]);
    }
    let f1 = redis.get("q");
    assert_eq!(redis.thoonk(&["finish", "q", &f1.id]).assert_success(), "");
    let f2 = redis.get("q");
    assert_eq!(
        redis
            .thoonk(&["finish", "q", &f2.id, "done"])
            .assert_success(),
        ""
    );
    let f3 = redis.get("q");
    assert_eq!(f3.id, "f3");
    assert_eq!(
        redis
            .thoonk(&["finish", "q", "f3", "done", "--token", &f3.token])
            .assert_success(),
        ""
    );
    let stats = redis.stats("q");
    assert_eq!(
        (&stats["available"], &stats["claimed"], &stats["finishes"]),
        (&json!(0), &json!(0), &json!(3))
    );
    // A finished job is gone.
    redis
        .thoonk(&["finish", "q", "f1"])
        .refused(&["q", "f1", "does not exist"]);
}

#[test]
fn cancel_puts_the_job_back_and_counts_it() {
    let redis = Redis::start();
    redis.publish("q", "work", &["--id", "c1"]);
    let first = redis.get("q");
    assert_eq!(first.cancelled, 0);
    assert_eq!(
        redis
            .thoonk(&["cancel", "q", "c1", "--token", &first.token])
            .assert_success(),
        ""
    );
    assert_eq!(redis.list("q", "available"), [Listed::new("c1", "work", 1)]);
    assert_eq!(redis.ids("q", "claimed"), Vec::<String>::new());
    let second = redis.get("q");
    assert_eq!((second.id.as_str(), second.cancelled), ("c1", 1));
    redis.thoonk(&["cancel", "q", "c1"]).assert_success();
    assert_eq!(redis.get("q").cancelled, 2);
    // Cancelled jobs go to the back of the line.
    redis.thoonk(&["cancel", "q", "c1"]).assert_success();
    redis.publish("q", "other", &["--id", "c2"]);
    assert_eq!(redis.ids("q", "available"), ["c1", "c2"]);
    redis.publish("q", "newest", &["--id", "c3"]);
    assert_eq!(redis.get("q").id, "c1");
    redis.thoonk(&["cancel", "q", "c1"]).assert_success();
    assert_eq!(redis.ids("q", "available"), ["c2", "c3", "c1"]);
    // Only a claimed job can be cancelled.
    redis
        .thoonk(&["cancel", "q", "c2"])
        .refused(&["q", "c2", "is not claimed (it is available)"]);
}

#[test]
fn stall_sets_a_job_aside_and_retry_puts_it_back() {
    let redis = Redis::start();
    redis.publish("q", "work", &["--id", "s1"]);
    redis.get("q");
    redis.thoonk(&["cancel", "q", "s1"]).assert_success();
    let claim = redis.get("q");
    assert_eq!((claim.id.as_str(), claim.cancelled), ("s1", 1));
    assert_eq!(
        redis
            .thoonk(&["stall", "q", "s1", "--token", &claim.token])
            .assert_success(),
        ""
    );
    // Stalling resets the cancel count (as v1).
    assert_eq!(redis.list("q", "stalled"), [Listed::new("s1", "work", 0)]);
    assert_eq!(redis.stats("q")["stalled"], 1);
    // A stalled job is not handed out.
    redis
        .thoonk(&["get", "q", "--timeout", "0.2"])
        .failed(3, &["q"]);
    assert_eq!(redis.thoonk(&["retry", "q", "s1"]).assert_success(), "");
    assert_eq!(redis.list("q", "available"), [Listed::new("s1", "work", 0)]);
    assert_eq!(redis.ids("q", "stalled"), Vec::<String>::new());
    assert_eq!(redis.get("q").id, "s1");
    // Without a token, too.
    redis.thoonk(&["stall", "q", "s1"]).assert_success();
    assert_eq!(redis.ids("q", "stalled"), ["s1"]);
}

#[test]
fn retract_deletes_a_job_in_any_state() {
    let redis = Redis::start();
    for id in ["r1", "r2", "r3"] {
        redis.publish("q", id, &["--id", id]);
    }
    assert_eq!(redis.get("q").id, "r1");
    assert_eq!(redis.get("q").id, "r2");
    redis.thoonk(&["stall", "q", "r2"]).assert_success();
    for id in ["r1", "r2", "r3"] {
        assert_eq!(redis.thoonk(&["retract", "q", id]).assert_success(), "");
    }
    let stats = redis.stats("q");
    for state in ["available", "claimed", "stalled"] {
        assert_eq!(stats[state], 0, "{stats}");
        assert_eq!(redis.ids("q", state), Vec::<String>::new());
    }
}

// ----------------------------------------------------------- stats, list

#[test]
fn stats_prints_the_counts_as_lines_or_json() {
    let redis = Redis::start();
    for id in ["s1", "s2", "s3", "s4"] {
        redis.publish("mail", id, &["--id", id]);
    }
    redis.get("mail");
    redis.thoonk(&["finish", "mail", "s1"]).assert_success();
    redis.get("mail");
    redis.thoonk(&["stall", "mail", "s2"]).assert_success();
    redis.get("mail");

    let human = redis.thoonk(&["stats", "mail"]);
    let expected = [
        ("queue", "mail"),
        ("available", "1"),
        ("latency_ms", "(the wait)"),
        ("claimed", "1"),
        ("stalled", "1"),
        ("delayed", "0"),
        ("publishes", "4"),
        ("finishes", "1"),
        ("cancels", "0"),
        ("stalls", "1"),
        ("recoveries", "0"),
        ("paused", "no"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let mut lines = human_stats(human.assert_success());
    // The one available job's wait: whole ms, however long this took.
    let waited: u64 = lines[2].1.parse().expect("latency_ms is whole ms");
    lines[2].1 = "(the wait)".into();
    assert_eq!(lines, expected);

    let out = redis.thoonk(&["stats", "mail", "--json"]);
    let mut value: Value = serde_json::from_str(out.line()).unwrap();
    let latency = value["latency_ms"].as_u64().expect("latency_ms, whole ms");
    assert!(latency >= waited, "{latency} ms, then {waited} ms");
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "queue",
            "available",
            "claimed",
            "stalled",
            "delayed",
            "publishes",
            "finishes",
            "cancels",
            "stalls",
            "recoveries",
            "paused",
            "latency_ms"
        ]
    );
    value.as_object_mut().unwrap().remove("latency_ms");
    assert_eq!(
        value,
        json!({"queue": "mail", "available": 1, "claimed": 1, "stalled": 1,
               "delayed": 0, "publishes": 4, "finishes": 1,
               "cancels": 0, "stalls": 1, "recoveries": 0, "paused": false})
    );

    // A queue never used: all zero.
    assert_eq!(
        redis.stats("unused"),
        json!({"queue": "unused", "available": 0, "claimed": 0, "stalled": 0,
               "delayed": 0, "publishes": 0, "finishes": 0,
               "cancels": 0, "stalls": 0, "recoveries": 0, "paused": false,
               "latency_ms": 0})
    );
}

#[test]
fn list_prints_each_state_as_lines_or_json() {
    let redis = Redis::start();
    for (id, item) in [
        ("l1", "one"),
        ("l2", "two\nlines"),
        ("l3", "three"),
        ("l4", "four"),
        ("l5", "five\tfields"),
    ] {
        redis.publish("q", item, &["--id", id]);
    }
    redis.get("q"); // l1
    redis.thoonk(&["cancel", "q", "l1"]).assert_success(); // back of the line, cancelled once
    assert_eq!(redis.get("q").id, "l2");
    assert_eq!(redis.get("q").id, "l3");
    redis.thoonk(&["stall", "q", "l3"]).assert_success();
    assert_eq!(redis.get("q").id, "l4");

    // JSON: arrays of {id, item, cancelled}, available in claim order.
    assert_eq!(
        redis.list("q", "available"),
        [
            Listed::new("l5", "five\tfields", 0),
            Listed::new("l1", "one", 1)
        ]
    );
    assert_eq!(
        redis.list("q", "claimed"),
        [
            Listed::new("l2", "two\nlines", 0),
            Listed::new("l4", "four", 0)
        ]
    );
    assert_eq!(redis.list("q", "stalled"), [Listed::new("l3", "three", 0)]);

    // Lines: id TAB cancelled TAB item, the item escaped onto its line.
    assert_eq!(
        redis.thoonk(&["list", "q", "available"]).assert_success(),
        "l5\t0\tfive\\tfields\nl1\t1\tone\n"
    );
    assert_eq!(
        redis.thoonk(&["list", "q", "claimed"]).assert_success(),
        "l2\t0\ttwo\\nlines\nl4\t0\tfour\n"
    );
    assert_eq!(
        redis.thoonk(&["list", "q", "stalled"]).assert_success(),
        "l3\t0\tthree\n"
    );

    // Empty states.
    assert_eq!(
        redis.thoonk(&["list", "empty", "stalled"]).assert_success(),
        ""
    );
    assert_eq!(
        redis
            .thoonk(&["list", "empty", "available", "--json"])
            .line(),
        "[]"
    );
}

// ------------------------------------------------------------------ events

#[test]
fn events_prints_every_verb_as_a_json_line() {
    let redis = Redis::start();
    let events = redis.spawn(&["events", "q"]);
    let verbs = [
        "publish", "claim", "finish", "cancel", "stall", "retry", "retract",
    ];
    until("events subscribed to every channel of q", || {
        verbs
            .iter()
            .all(|v| redis.subscribers(&format!("event.job.{v}:q")) == 1)
    });

    redis.publish("q", "x", &["--id", "e1"]);
    redis.get("q");
    redis.thoonk(&["cancel", "q", "e1"]).assert_success();
    redis.get("q");
    redis.thoonk(&["stall", "q", "e1"]).assert_success();
    // Events of another queue are not printed.
    redis.publish("other", "x", &["--id", "o1"]);
    redis.thoonk(&["retry", "q", "e1"]).assert_success();
    redis.get("q");
    redis
        .thoonk(&["finish", "q", "e1", "all done"])
        .assert_success();
    redis.publish("q", "x", &["--id", "e2"]);
    redis.get("q");
    redis.thoonk(&["finish", "q", "e2"]).assert_success();
    redis.publish("q", "x", &["--id", "e3"]);
    redis.thoonk(&["retract", "q", "e3"]).assert_success();

    let expected = [
        json!({"event": "publish", "queue": "q", "id": "e1"}),
        json!({"event": "claim", "queue": "q", "id": "e1"}),
        json!({"event": "cancel", "queue": "q", "id": "e1"}),
        json!({"event": "claim", "queue": "q", "id": "e1"}),
        json!({"event": "stall", "queue": "q", "id": "e1"}),
        json!({"event": "retry", "queue": "q", "id": "e1"}),
        json!({"event": "claim", "queue": "q", "id": "e1"}),
        json!({"event": "finish", "queue": "q", "id": "e1", "result": "all done"}),
        json!({"event": "publish", "queue": "q", "id": "e2"}),
        json!({"event": "claim", "queue": "q", "id": "e2"}),
        json!({"event": "finish", "queue": "q", "id": "e2"}),
        json!({"event": "publish", "queue": "q", "id": "e3"}),
        json!({"event": "retract", "queue": "q", "id": "e3"}),
    ];
    for want in expected {
        let got = events.next_json();
        assert_eq!(got, want);
        // Keys in the documented order: event, queue, id (, result).
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        let want_keys: Vec<&String> = want.as_object().unwrap().keys().collect();
        assert_eq!(keys, want_keys);
    }
}

// ---------------------------------------------------------------- refusals

#[test]
fn finish_of_an_unknown_job_is_refused() {
    let redis = Redis::start();
    redis
        .thoonk(&["finish", "mail", "nope", "result"])
        .refused(&["mail", "nope", "does not exist"]);
    assert_eq!(redis.stats("mail")["finishes"], 0);
}

#[test]
fn finish_of_an_available_job_is_refused() {
    let redis = Redis::start();
    redis.publish("mail", "x", &["--id", "7f3a"]);
    let line = redis
        .thoonk(&["finish", "mail", "7f3a"])
        .refused(&["is not claimed (it is available)"]);
    assert_eq!(
        line,
        "error: finish refused: job 7f3a in queue mail is not claimed (it is available)"
    );
    assert_eq!(redis.ids("mail", "available"), ["7f3a"]);
}

#[test]
fn stall_of_a_stalled_job_is_refused() {
    let redis = Redis::start();
    redis.publish("mail", "x", &["--id", "7f3a"]);
    redis.get("mail");
    redis.thoonk(&["stall", "mail", "7f3a"]).assert_success();
    let line = redis.thoonk(&["stall", "mail", "7f3a"]).refused(&[]);
    assert_eq!(
        line,
        "error: stall refused: job 7f3a in queue mail is not claimed (it is stalled)"
    );
    assert_eq!(redis.ids("mail", "stalled"), ["7f3a"]);
}

#[test]
fn retry_of_an_available_job_is_refused() {
    let redis = Redis::start();
    redis.publish("mail", "x", &["--id", "7f3a"]);
    redis.thoonk(&["retry", "mail", "7f3a"]).refused(&[
        "mail",
        "7f3a",
        "is not stalled (it is available)",
    ]);
    assert_eq!(redis.ids("mail", "available"), ["7f3a"]);
}

#[test]
fn retract_of_an_unknown_job_is_refused() {
    let redis = Redis::start();
    redis.publish("mail", "x", &["--id", "other"]);
    redis
        .thoonk(&["retract", "mail", "nope"])
        .refused(&["mail", "nope", "does not exist"]);
    assert_eq!(redis.ids("mail", "available"), ["other"]);
}

#[test]
fn publish_of_an_existing_id_is_refused() {
    let redis = Redis::start();
    redis.publish("mail", "first", &["--id", "dup"]);
    redis
        .thoonk(&["publish", "mail", "second", "--id", "dup"])
        .refused(&["mail", "dup", "already exists"]);
    // Nothing changed: one job, the first payload, one publish.
    assert_eq!(
        redis.list("mail", "available"),
        [Listed::new("dup", "first", 0)]
    );
    assert_eq!(redis.stats("mail")["publishes"], 1);
    // Also while the job is claimed.
    redis.get("mail");
    redis
        .thoonk(&["publish", "mail", "third", "--id", "dup", "--priority"])
        .refused(&["mail", "dup", "already exists"]);
}

#[test]
fn a_stale_token_is_refused_once_the_job_was_claimed_again() {
    let redis = Redis::start();
    redis.publish("mail", "x", &["--id", "j1"]);
    let old = redis.get("mail");
    redis
        .thoonk(&["cancel", "mail", "j1", "--token", &old.token])
        .assert_success();
    let new = redis.get("mail");
    assert_ne!(old.token, new.token);
    for verb in ["finish", "cancel", "stall"] {
        redis
            .thoonk(&[verb, "mail", "j1", "--token", &old.token])
            .refused(&["mail", "j1", "claimed again"]);
    }
    // The new claim still holds and may finish it.
    assert_eq!(redis.ids("mail", "claimed"), ["j1"]);
    redis
        .thoonk(&["finish", "mail", "j1", "ok", "--token", &new.token])
        .assert_success();
    assert_eq!(redis.stats("mail")["finishes"], 1);
}

// ------------------------------------------------------ connection, usage

#[test]
fn an_unreachable_redis_is_one_line_naming_the_url() {
    let port = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}/");
    for args in [
        vec!["stats", "mail"],
        vec!["publish", "mail", "x"],
        vec!["get", "mail"],
    ] {
        let mut all = vec!["--redis", url.as_str()];
        all.extend(args);
        run(command(&all), b"").refused(&[&url, "cannot connect to Redis"]);
    }
}

#[test]
fn the_redis_url_comes_from_thoonk_redis_url_unless_redis_is_given() {
    let redis = Redis::start();
    let url = redis.url();
    // From the environment alone.
    let mut cmd = command(&["publish", "mail", "via env", "--id", "e1"]);
    cmd.env("THOONK_REDIS_URL", &url);
    assert_eq!(run(cmd, b"").line(), "e1");
    assert_eq!(
        redis.list("mail", "available"),
        [Listed::new("e1", "via env", 0)]
    );
    // --redis wins over the environment.
    let dead = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        format!(
            "redis://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        )
    };
    let mut cmd = command(&["--redis", &url, "stats", "mail", "--json"]);
    cmd.env("THOONK_REDIS_URL", &dead);
    assert_eq!(
        serde_json::from_str::<Value>(run(cmd, b"").line()).unwrap()["available"],
        1
    );
    // And the environment is really read: a dead URL there is the one named.
    let mut cmd = command(&["stats", "mail"]);
    cmd.env("THOONK_REDIS_URL", &dead);
    run(cmd, b"").refused(&[&dead]);
}

#[test]
fn usage_errors_exit_2() {
    let redis = Redis::start();
    for args in [
        &["frobnicate", "mail"][..],
        &["get"],
        &["publish"],
        &["finish", "mail"],
        &["list", "mail"],
        &["list", "mail", "bogus"],
        &["list", "mail", "bogus", "--json"],
        &["publish", "mail", "x", "--timeout", "1"],
        &["get", "mail", "--timeout", "soon"],
        &["stats", "mail", "--frob"],
    ] {
        redis.thoonk(args).usage_error();
    }
    // The refused publish published nothing.
    assert_eq!(redis.stats("mail")["publishes"], 0);
    // Usage errors come before any connection: no Redis needed.
    run(command(&["frobnicate"]), b"").usage_error();
}

#[test]
fn an_invalid_queue_name_is_a_short_one_line_error() {
    let redis = Redis::start();
    for args in [
        &["publish", "", "x"][..],
        &["get", "", "--timeout", "0.1"],
        &["finish", "", "j1"],
        &["retract", "", "j1"],
        &["stats", ""],
        &["list", "", "available"],
        &["events", ""],
    ] {
        redis
            .thoonk(args)
            .refused(&["invalid queue name \"\"", "empty"]);
    }
    let long = "q".repeat(300);
    let line = redis
        .thoonk(&["publish", &long, "x"])
        .refused(&["invalid queue name", "longer than 256 bytes"]);
    assert!(line.len() < 200, "short: {line:?}");
    // Nothing was written anywhere.
    assert_eq!(redis.query(&["DBSIZE"]), thoonk_testkit::Resp::Int(0));
}

#[test]
fn an_invalid_job_id_is_a_short_one_line_error() {
    let redis = Redis::start();
    let id = overlong_id();
    for args in [
        &["publish", "mail", "x", "--id", &id][..],
        &["finish", "mail", &id, "result"],
        &["cancel", "mail", &id],
        &["stall", "mail", &id, "--token", "1"],
        &["retry", "mail", &id],
        &["retract", "mail", &id],
    ] {
        let out = redis.thoonk(args);
        let line = out.refused(&["invalid job id", "mail", "2000 bytes", "longer than 1024"]);
        assert!(line.len() < 200, "short: {line:?}");
    }
    // With --wait the id is printed before the wait, so it is on stdout;
    // the refusal is the same one line and exit 1.
    let out = redis.thoonk(&[
        "publish",
        "mail",
        "x",
        "--id",
        &id,
        "--wait",
        "--timeout",
        "5",
    ]);
    let line = out.failed(
        1,
        &["invalid job id", "mail", "2000 bytes", "longer than 1024"],
    );
    assert!(line.len() < 200, "short: {line:?}");
    assert_eq!(redis.stats("mail")["publishes"], 0);
}

/// `thoonk list QUEUE available | head -1`: the reader goes away after one
/// line, and the command ends quietly (exit 0, nothing on stderr) instead
/// of failing with "Broken pipe".
#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let redis = Redis::start();
    // More output than a pipe holds (64 KiB), so the writer meets the
    // closed end.
    redis
        .query(&[
            "EVAL",
            "for i = 1, 20000 do \
               redis.call('LPUSH', KEYS[1], 'job-' .. i) \
               redis.call('HSET', KEYS[2], 'job-' .. i, 'some payload') \
             end",
            "2",
            "job.ids:q",
            "job.items:q",
        ])
        .into_result()
        .expect("jobs made");
    let mut cmd = command(&["--redis", &redis.url(), "list", "q", "available"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = common::Guard(cmd.spawn().expect("spawn thoonk"));
    let mut stdout = BufReader::new(child.0.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a first line");
    assert!(first.starts_with("job-"), "{first:?}");
    drop(stdout);
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.0.wait().expect("the exit");
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
}

/// A number past its bound is a usage error (exit 2), refused before
/// anything is sent. The issue's case first: a `--timeout` so long that
/// the result's TTL broke `finish` later, the job gone with no finish.
#[test]
fn numbers_past_their_bounds_are_usage_errors_and_change_nothing() {
    let redis = Redis::start();
    redis.publish("q", "x", &["--id", "j"]);
    let before = redis.snapshot();
    for args in [
        &[
            "publish",
            "q",
            "x",
            "--wait",
            "--timeout",
            "100000000000000000",
        ][..],
        &["publish", "q", "x", "--delay", "31536001"],
        &["publish", "q", "x", "--delay", "nan"],
        &[
            "publish",
            "q",
            "x",
            "--replicas",
            "1",
            "--replicas-timeout=-1",
        ],
        &["get", "q", "--timeout=-1"],
        &["work", "q", "--lease", "0", "--", "true"],
        &["work", "q", "--lease", "604801", "--", "true"],
        &["work", "q", "--max-cancels", "2147483648", "--", "true"],
        &["work", "q", "--concurrency", "0", "--", "true"],
        &["work", "q", "--grace", "inf", "--", "true"],
    ] {
        redis.thoonk(args).usage_error();
        assert!(redis.snapshot() == before, "{args:?} changed Redis");
    }
}

#[test]
fn stats_latency_is_the_wait_of_the_oldest_available_job() {
    let redis = Redis::start();
    assert_eq!(redis.stats("lat")["latency_ms"], 0, "nothing waits");
    redis.publish("lat", "x", &[]);
    let before: u64 = redis.stats("lat")["latency_ms"].as_u64().unwrap();
    // The server's clock moves on; the wait with it.
    until("the wait grows past 200 ms", || {
        redis.stats("lat")["latency_ms"].as_u64().unwrap() >= 200
    });
    assert!(before < 200, "{before} ms at first");
    redis.get("lat");
    assert_eq!(redis.stats("lat")["latency_ms"], 0, "claimed: none waits");
}

#[test]
fn publish_unique_for_refuses_the_id_until_the_window_ends_even_after_a_finish() {
    let redis = Redis::start();
    let once = ["--id", "nightly", "--unique-for", "3600"];
    assert_eq!(redis.publish("u", "x", &once), "nightly");
    let claim = redis.get("u");
    redis
        .thoonk(&["finish", "u", "nightly", "--token", &claim.token])
        .assert_success();
    let again = redis.thoonk(&[
        "publish",
        "u",
        "x",
        "--id",
        "nightly",
        "--unique-for",
        "3600",
    ]);
    let line = again.refused(&["nightly", "u", "unique window", "publish refused"]);
    assert!(line.contains("ends in 3"), "{line}");
    // Without a window of its own too: the earlier one holds the id.
    redis
        .thoonk(&["publish", "u", "x", "--id", "nightly"])
        .refused(&["nightly", "unique window"]);
    assert_eq!(redis.stats("u")["available"], 0);
    // A bad window is a usage error.
    redis
        .thoonk(&["publish", "u", "x", "--unique-for", "soon"])
        .usage_error();
}
