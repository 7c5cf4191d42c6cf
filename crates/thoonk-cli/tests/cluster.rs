//! The `thoonk` binary against a real Redis Cluster: each test starts its
//! own six nodes (three masters, three replicas, see
//! [`thoonk_testkit::PrivateCluster`]) and runs the real binary with
//! `--cluster` and seed URLs.
//!
//! Nothing here sleeps in place of synchronisation: `events` is known to
//! listen once every node's `PUBSUB NUMSUB` adds up to one subscriber per
//! channel, a `work` process once it logged its worker id, and the end of
//! a run is polled for (`stats`) with a deadline. Every child is killed on
//! drop.

mod common;

use common::worker::WorkerProcess;
use common::{command, run, Background, Claim, Output};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};
use thoonk_testkit::poll::until;
use thoonk_testkit::{PrivateCluster, Resp, TempDir};

/// Every kind of event, as in the channel names `event.job.<verb>:NAME`
/// that `events` subscribes to.
const VERBS: [&str; 10] = [
    "publish", "claim", "finish", "cancel", "stall", "retry", "retract", "delay", "release", "due",
];

/// A private Redis Cluster, and `thoonk` run against it with `--cluster`
/// and two of its nodes as seeds (each given with its own `--redis`).
struct ClusterEnv {
    cluster: PrivateCluster,
    seeds: [String; 2],
}

impl ClusterEnv {
    fn start() -> ClusterEnv {
        let cluster = PrivateCluster::start().expect("start a private Redis Cluster");
        let urls = cluster.urls();
        let seeds = [urls[0].clone(), urls[4].clone()];
        ClusterEnv { cluster, seeds }
    }

    /// `thoonk --cluster --redis SEED1 --redis SEED2 ARGS…`, with none of
    /// the user's settings (see [`command`]).
    fn command(&self, args: &[&str]) -> Command {
        let mut all = vec!["--cluster"];
        for seed in &self.seeds {
            all.extend(["--redis", seed.as_str()]);
        }
        all.extend_from_slice(args);
        command(&all)
    }

    /// Runs `thoonk … ARGS…` to its end (stdin empty).
    fn thoonk(&self, args: &[&str]) -> Output {
        run(self.command(args), b"")
    }

    /// `thoonk … ARGS…` in the background.
    fn spawn(&self, args: &[&str]) -> Background {
        Background::spawn(self.command(args))
    }

    /// Starts `thoonk … work ARGS…` with `vars` added to its environment,
    /// and waits for its first log line, which names its worker id: from
    /// then on SIGTERM stops it gracefully.
    #[track_caller]
    fn work(&self, args: &[&str], vars: &[(&str, &str)]) -> WorkerProcess {
        let mut cmd = self.command(&[&["work"], args].concat());
        cmd.envs(vars.iter().copied());
        WorkerProcess::spawn(cmd)
    }

    /// Publishes `item` (with extra options); asserts it succeeded and
    /// returns the printed id.
    #[track_caller]
    fn publish(&self, queue: &str, item: &str, options: &[&str]) -> String {
        let mut args = vec!["publish", queue, item];
        args.extend_from_slice(options);
        self.thoonk(&args).line().to_string()
    }

    /// Claims one job (which must be there); returns the parsed line.
    #[track_caller]
    fn get(&self, queue: &str) -> Claim {
        Claim::parse(self.thoonk(&["get", queue, "--timeout", "5"]).line())
    }

    /// `stats QUEUE --json`, parsed, without the event counters (cancels,
    /// stalls, recoveries: `cli.rs` checks those) — the counts per state
    /// and the v1 counters are what these tests follow.
    #[track_caller]
    fn stats(&self, queue: &str) -> Value {
        counts(&self.thoonk(&["stats", queue, "--json"]))
    }

    /// `list QUEUE STATE --json`, parsed.
    #[track_caller]
    fn list(&self, queue: &str, state: &str) -> Value {
        json_line(&self.thoonk(&["list", queue, state, "--json"]))
    }

    /// The port of the master that serves the slot of `queue`'s keys.
    fn master_of(&self, queue: &str) -> u16 {
        self.cluster
            .node_for_key(&format!("job.ids:{queue}"))
            .expect("the master of the queue's slot")
            .port
    }

    /// The ports of the three masters.
    fn masters(&self) -> Vec<u16> {
        let masters: Vec<u16> = self
            .cluster
            .masters()
            .expect("CLUSTER NODES")
            .iter()
            .map(|m| m.port)
            .collect();
        assert_eq!(masters.len(), 3, "three masters: {masters:?}");
        masters
    }

    /// The keys on the node at `port`, sorted.
    fn keys_on(&self, port: u16) -> Vec<String> {
        self.cluster.keys_on(port).expect("KEYS *")
    }

    /// Asserts that the master of `queue`'s slot holds `job.NOUN:QUEUE`
    /// for each of `nouns`, and that no other master holds a key that
    /// names `queue`. Returns that master's port.
    ///
    /// With `alone`, stricter: every key on that master passes `alone`,
    /// and the other masters hold no key at all.
    #[track_caller]
    fn assert_queue_on_its_master(
        &self,
        queue: &str,
        nouns: &[&str],
        alone: Option<fn(&str) -> bool>,
    ) -> u16 {
        let home = self.master_of(queue);
        let masters = self.masters();
        assert!(masters.contains(&home), "{home} is not in {masters:?}");
        let keys = self.keys_on(home);
        for noun in nouns {
            let key = format!("job.{noun}:{queue}");
            assert!(keys.contains(&key), "{key} is not on {home}: {keys:?}");
        }
        let others: Vec<(u16, Vec<String>)> = masters
            .into_iter()
            .filter(|&p| p != home)
            .map(|port| (port, self.keys_on(port)))
            .collect();
        for (port, keys) in &others {
            let strays: Vec<&String> = keys.iter().filter(|k| k.contains(queue)).collect();
            assert!(
                strays.is_empty(),
                "keys of {queue} on {port}, not on its master {home}: {strays:?}"
            );
        }
        if let Some(own) = alone {
            assert!(keys.iter().all(|k| own(k)), "{keys:?}");
            for (port, keys) in &others {
                assert_eq!(*keys, Vec::<String>::new(), "keys on {port}");
            }
        }
        home
    }

    /// Waits until exactly one client, on whichever node, subscribes to
    /// each event channel of `queue`: an `events` process listens.
    #[track_caller]
    fn wait_for_listener(&self, queue: &str) {
        let channels: Vec<String> = VERBS
            .iter()
            .map(|v| format!("event.job.{v}:{queue}"))
            .collect();
        until("one client subscribes to every event channel", || {
            self.subscribers(&channels).iter().all(|&n| n == 1)
        });
    }

    /// How many clients subscribe to each of `channels`, added up over all
    /// nodes (`PUBSUB NUMSUB` counts a node's own clients only).
    fn subscribers(&self, channels: &[String]) -> Vec<i64> {
        let mut args = vec!["PUBSUB", "NUMSUB"];
        args.extend(channels.iter().map(String::as_str));
        let mut total = vec![0; channels.len()];
        for port in self.cluster.ports() {
            let out = self.cluster.command(port, &args).expect("PUBSUB NUMSUB");
            let replied = format!("{out:?}");
            let flat = out.array().expect("NUMSUB's pairs");
            assert_eq!(flat.len(), 2 * channels.len(), "NUMSUB replied {replied}");
            for (n, pair) in total.iter_mut().zip(flat.chunks(2)) {
                *n += pair[1]
                    .clone()
                    .int()
                    .unwrap_or_else(|_| panic!("NUMSUB replied {replied}"));
            }
        }
        total
    }
}

/// `thoonk ARGS…` with `THOONK_REDIS_URL` set to `url` and `THOONK_CLUSTER`
/// to `cluster` (each unset for `None`, whatever the user's environment
/// says).
fn with_env(args: &[&str], url: Option<&str>, cluster: Option<&str>) -> Command {
    let mut cmd = command(args);
    cmd.envs(url.map(|url| ("THOONK_REDIS_URL", url)))
        .envs(cluster.map(|cluster| ("THOONK_CLUSTER", cluster)));
    cmd
}

/// The single stdout line of a successful run, parsed as JSON.
#[track_caller]
fn json_line(out: &Output) -> Value {
    let line = out.line();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

/// `stats --json` output without the event counters.
#[track_caller]
fn counts(out: &Output) -> Value {
    let mut stats = json_line(out);
    let fields = stats.as_object_mut().expect("an object");
    for counter in ["cancels", "stalls", "recoveries"] {
        fields.remove(counter).expect("every stats line has it");
    }
    // (The wait of the oldest job grows by itself: whole ms, left out.)
    let latency = fields
        .remove("latency_ms")
        .expect("every stats line has it");
    assert!(latency.is_u64(), "latency_ms is whole ms: {latency}");
    stats
}

/// What `stats --json` prints for these counts (but the event counters
/// and the latency).
fn stats(
    queue: &str,
    [available, claimed, stalled, delayed, publishes, finishes]: [u64; 6],
) -> Value {
    json!({
        "queue": queue,
        "available": available,
        "claimed": claimed,
        "stalled": stalled,
        "delayed": delayed,
        "publishes": publishes,
        "finishes": finishes,
        "paused": false,
    })
}

/// One element of `list --json`.
fn listed(id: &str, item: &str, cancelled: u64) -> Value {
    json!({"id": id, "item": item, "cancelled": cancelled})
}

/// One line of `events`.
fn event(verb: &str, queue: &str, id: &str) -> Value {
    json!({"event": verb, "queue": queue, "id": id})
}

#[test]
fn every_command_works_on_a_cluster_and_a_queue_keeps_to_the_master_of_its_tag() {
    let env = ClusterEnv::start();
    let q = "{mail}";
    let events = env.spawn(&["events", q]);
    env.wait_for_listener(q);

    assert_eq!(env.publish(q, "hello", &["--id", "j1"]), "j1");
    assert_eq!(
        env.publish(q, "urgent", &["--id", "p1", "--priority"]),
        "p1"
    );
    assert_eq!(
        env.publish(q, "later", &["--id", "d1", "--delay", "3600"]),
        "d1"
    );
    // The master's one replica acknowledges it.
    assert_eq!(
        env.publish(q, "safe", &["--id", "r1", "--replicas", "1"]),
        "r1"
    );
    assert_eq!(env.stats(q), stats(q, [3, 0, 0, 1, 4, 0]));
    assert_eq!(
        env.list(q, "available"),
        json!([
            listed("p1", "urgent", 0),
            listed("j1", "hello", 0),
            listed("r1", "safe", 0)
        ])
    );
    assert_eq!(env.list(q, "delayed"), json!([listed("d1", "later", 0)]));

    // Every key of the queue on the master of {mail}'s slot, and nothing
    // else anywhere: the other masters hold no key at all.
    env.assert_queue_on_its_master(
        q,
        &["ids", "items", "publishes", "delayed"],
        // (On a cluster, each call that wrote also keeps its reply a
        // while, in the queue's slot, for a second run: see `_once.lua`.)
        Some(|k| {
            k.starts_with("job.") && k.ends_with(":{mail}") || k.starts_with("job.request:{mail}\0")
        }),
    );

    // get, then finish (with a result), cancel and stall by token.
    let p1 = env.get(q);
    assert_eq!(
        (p1.id.as_str(), p1.item.as_str(), p1.cancelled),
        ("p1", "urgent", 0)
    );
    let out = env.thoonk(&["finish", q, "p1", "sent: 250 OK", "--token", &p1.token]);
    assert_eq!(out.assert_success(), "");
    let j1 = env.get(q);
    assert_eq!((j1.id.as_str(), j1.item.as_str()), ("j1", "hello"));
    assert_ne!(j1.token, p1.token);
    assert_eq!(
        env.thoonk(&["cancel", q, "j1", "--token", &j1.token])
            .assert_success(),
        ""
    );
    let r1 = env.get(q);
    assert_eq!((r1.id.as_str(), r1.item.as_str()), ("r1", "safe"));
    assert_eq!(env.list(q, "claimed"), json!([listed("r1", "safe", 0)]));
    assert_eq!(
        env.thoonk(&["stall", q, "r1", "--token", &r1.token])
            .assert_success(),
        ""
    );
    assert_eq!(env.list(q, "stalled"), json!([listed("r1", "safe", 0)]));
    assert_eq!(env.list(q, "claimed"), json!([]));
    assert_eq!(env.thoonk(&["retry", q, "r1"]).assert_success(), "");
    assert_eq!(env.thoonk(&["retract", q, "d1"]).assert_success(), "");
    assert_eq!(
        env.list(q, "available"),
        json!([listed("j1", "hello", 1), listed("r1", "safe", 0)])
    );
    assert_eq!(env.list(q, "delayed"), json!([]));
    assert_eq!(env.stats(q), stats(q, [2, 0, 0, 0, 4, 1]));

    // `events` printed all of it, in order.
    let mut finished_p1 = event("finish", q, "p1");
    finished_p1["result"] = "sent: 250 OK".into();
    for want in [
        event("publish", q, "j1"),
        event("publish", q, "p1"),
        event("publish", q, "d1"),
        event("delay", q, "d1"),
        event("publish", q, "r1"),
        event("claim", q, "p1"),
        finished_p1,
        event("claim", q, "j1"),
        event("cancel", q, "j1"),
        event("claim", q, "r1"),
        event("stall", q, "r1"),
        event("retry", q, "r1"),
        event("retract", q, "d1"),
    ] {
        assert_eq!(events.next_json(), want);
    }

    // publish --wait, answered by a `work` process, which also runs the
    // two jobs left.
    let publisher = env.spawn(&["publish", q, "this", "--wait", "--timeout", "30"]);
    let waited = publisher.next_line();
    let worker = env.work(&[q, "--", "sh", "-c", r#"printf "did %s" "$(cat)""#], &[]);
    assert_eq!(publisher.exit().assert_success(), "did this\n");
    until("the worker finished every job", || {
        env.stats(q) == stats(q, [0, 0, 0, 0, 5, 4])
    });
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    let report = exited.report();
    assert_eq!(
        (
            report.finished,
            report.failed,
            report.stalled,
            report.released
        ),
        (3, 0, 0, 0),
        "{report:?}"
    );

    // The worker's part of the events: one publish, a claim and a finish
    // (with the command's stdout as result) per job, in whatever order.
    let mut published = Vec::new();
    let mut claimed = BTreeSet::new();
    let mut finished = BTreeMap::new();
    while finished.len() < 3 {
        let line = events.next_json();
        let id = line["id"].as_str().expect("an id").to_string();
        match line["event"].as_str() {
            Some("publish") => published.push(id),
            Some("claim") => assert!(claimed.insert(id), "claimed twice: {line}"),
            Some("finish") => {
                let result = line["result"].as_str().expect("a result").to_string();
                assert!(
                    finished.insert(id, result).is_none(),
                    "finished twice: {line}"
                );
            }
            _ => panic!("unexpected event {line}"),
        }
    }
    assert_eq!(published, std::slice::from_ref(&waited));
    let ids = BTreeSet::from(["j1".to_string(), "r1".to_string(), waited.clone()]);
    assert_eq!(claimed, ids);
    assert_eq!(
        finished,
        BTreeMap::from([
            ("j1".to_string(), "did hello".to_string()),
            ("r1".to_string(), "did safe".to_string()),
            (waited, "did this".to_string()),
        ])
    );

    // Still all on the one master, the result kept for the publisher too.
    env.assert_queue_on_its_master(
        q,
        &["publishes", "finishes", "claims"],
        Some(|k| k.starts_with("job.") && k.contains(":{mail}")),
    );
}

#[test]
fn the_seeds_may_come_from_thoonk_redis_url_as_a_comma_separated_list() {
    let env = ClusterEnv::start();
    let urls = env.cluster.urls();
    let all = urls.join(",");
    // `thoonk ARGS…` with THOONK_REDIS_URL set to all six nodes, and
    // THOONK_CLUSTER set to `cluster` (or unset).
    let from_env =
        |cluster: Option<&str>, args: &[&str]| run(with_env(args, Some(&all), cluster), b"");
    let q = "{env}";

    let out = from_env(Some("true"), &["publish", q, "one", "--id", "e1"]);
    assert_eq!(out.line(), "e1");
    let out = from_env(None, &["--cluster", "publish", q, "two", "--id", "e2"]);
    assert_eq!(out.line(), "e2");
    // As environment flags go, 1 means yes too.
    let claim = Claim::parse(from_env(Some("1"), &["get", q, "--timeout", "5"]).line());
    assert_eq!((claim.id.as_str(), claim.item.as_str()), ("e1", "one"));
    let out = from_env(Some("true"), &["finish", q, "e1", "--token", &claim.token]);
    assert_eq!(out.assert_success(), "");

    // Two seeds in one --redis, comma-separated.
    let two = format!("{},{}", urls[1], urls[3]);
    let out = run(
        command(&["--cluster", "--redis", &two, "stats", q, "--json"]),
        b"",
    );
    assert_eq!(counts(&out), stats(q, [1, 0, 0, 0, 2, 1]));
    // One seed is enough: the client learns the other nodes from it.
    let args = [
        "--cluster",
        "--redis",
        &urls[5],
        "list",
        q,
        "available",
        "--json",
    ];
    let out = run(command(&args), b"");
    assert_eq!(json_line(&out), json!([listed("e2", "two", 0)]));
    // --redis on the command line wins over THOONK_REDIS_URL.
    let dead = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        format!(
            "redis://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        )
    };
    let cmd = with_env(
        &["--redis", &urls[2], "stats", q, "--json"],
        Some(&format!("{dead},{dead}")),
        Some("true"),
    );
    assert_eq!(counts(&run(cmd, b"")), stats(q, [1, 0, 0, 0, 2, 1]));

    env.assert_queue_on_its_master(q, &["ids", "items", "publishes", "finishes"], None);
}

#[test]
fn untagged_names_several_urls_without_cluster_and_too_few_replicas_are_refused() {
    let env = ClusterEnv::start();

    // Every command refuses a queue name without a {tag}, naming the fix.
    for args in [
        &["publish", "mail", "x"][..],
        &["get", "mail", "--timeout", "1"],
        &["finish", "mail", "j1", "done"],
        &["cancel", "mail", "j1"],
        &["stall", "mail", "j1"],
        &["retry", "mail", "j1"],
        &["retract", "mail", "j1"],
        &["stats", "mail", "--json"],
        &["list", "mail", "available", "--json"],
        &["events", "mail"],
        &["work", "mail", "--", "true"],
        // One untagged name among tagged ones is enough.
        &["work", "{other}", "mail", "--", "true"],
    ] {
        let line = env
            .thoonk(args)
            .refused(&["queue \"mail\" has no {tag}", "name it \"{mail}\""]);
        assert!(line.contains("Redis Cluster"), "{line}");
    }
    // Nothing was written, on any node.
    for port in env.cluster.ports() {
        assert_eq!(env.keys_on(port), Vec::<String>::new(), "keys on {port}");
    }

    // Several URLs without --cluster: a usage error, whichever way they
    // are given.
    let [a, b] = &env.seeds;
    let both = format!("{a},{b}");
    for cmd in [
        with_env(&["--redis", a, "--redis", b, "stats", "{mail}"], None, None),
        with_env(&["--redis", &both, "stats", "{mail}"], None, None),
        with_env(&["stats", "{mail}"], Some(&both), None),
        with_env(&["stats", "{mail}"], Some(&both), Some("false")),
    ] {
        let out = run(cmd, b"");
        out.usage_error();
        assert!(
            out.stderr
                .contains("several --redis URLs are the seed nodes of a cluster: add --cluster"),
            "{out:?}"
        );
    }

    // Two replicas asked for, where each master has one: the publish fails
    // after --replicas-timeout, but the job is queued.
    let started = Instant::now();
    let out = env.thoonk(&[
        "publish",
        "{mail}",
        "precious",
        "--id",
        "r2",
        "--replicas",
        "2",
        "--replicas-timeout",
        "0.2",
    ]);
    let took = started.elapsed();
    let line = out.failed(1, &["published job r2 to queue {mail}"]);
    assert_eq!(
        line,
        "error: published job r2 to queue {mail}, but only 1 of 2 replicas had it \
         within 200ms: it is queued, yet a failover now could lose it"
    );
    assert!(took >= Duration::from_millis(200), "took {took:?}");
    assert_eq!(env.stats("{mail}"), stats("{mail}", [1, 0, 0, 0, 1, 0]));
    assert_eq!(
        env.list("{mail}", "available"),
        json!([listed("r2", "precious", 0)])
    );
    // With one replica asked for, the same publish succeeds.
    let out = env.thoonk(&[
        "publish",
        "{mail}",
        "precious too",
        "--id",
        "r1",
        "--replicas",
        "1",
        "--replicas-timeout",
        "5",
    ]);
    assert_eq!(out.line(), "r1");
    assert_eq!(env.stats("{mail}"), stats("{mail}", [2, 0, 0, 0, 2, 0]));
}

#[test]
fn one_worker_serves_queues_on_different_masters_and_finishes_every_job() {
    let env = ClusterEnv::start();
    // One queue per master.
    let mut queues: Vec<String> = Vec::new();
    let mut homes: Vec<u16> = Vec::new();
    for i in 0.. {
        let name = format!("{{q{i}}}");
        let home = env.master_of(&name);
        if !homes.contains(&home) {
            queues.push(name);
            homes.push(home);
        }
        if homes.len() == 3 {
            break;
        }
        assert!(i < 1000, "no three tags over three masters: {homes:?}");
    }
    let mut expected = BTreeSet::new();
    let mut publish = |when: &str| {
        for q in &queues {
            for n in 0..3 {
                let id = format!("{when}-{n}");
                assert_eq!(env.publish(q, &format!("{q} {id}"), &["--id", &id]), id);
                assert!(expected.insert(format!("{q} {id}")));
            }
        }
    };

    // Jobs waiting before the worker starts, and jobs it waits for.
    publish("before");
    let dir = TempDir::new("cluster-work").expect("a temp dir");
    let script = r#"cat >/dev/null; echo "$THOONK_QUEUE $THOONK_JOB_ID" >> "$DIR/log"; echo ok"#;
    let mut args: Vec<&str> = queues.iter().map(String::as_str).collect();
    args.extend([
        "--weights",
        "3,2,1",
        "--concurrency",
        "4",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let worker = env.work(&args, &[("DIR", dir.path().to_str().unwrap())]);
    publish("after");

    until("every job of every queue is finished", || {
        queues
            .iter()
            .all(|q| env.stats(q) == stats(q, [0, 0, 0, 0, 6, 6]))
    });
    let exited = worker.terminate();
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    let report = exited.report();
    assert_eq!(
        (
            report.finished,
            report.failed,
            report.stalled,
            report.released
        ),
        (18, 0, 0, 0),
        "{report:?}"
    );
    // Each job ran once.
    let mut ran = dir.lines("log");
    ran.sort();
    assert_eq!(ran, expected.into_iter().collect::<Vec<_>>());
    for q in &queues {
        assert_eq!(env.list(q, "available"), json!([]), "{q}");
        assert_eq!(env.list(q, "claimed"), json!([]), "{q}");
        let home = env.assert_queue_on_its_master(q, &["publishes", "finishes", "claims"], None);
        assert_eq!(home, homes[queues.iter().position(|n| n == q).unwrap()]);
    }
}

#[test]
fn bench_runs_on_a_cluster_with_a_tagged_queue() {
    let env = ClusterEnv::start();
    let small = common::SMALL_BENCH;
    // The phases' queues are QUEUE.<phase>: they need QUEUE's {tag}.
    env.thoonk(small)
        .failed(1, &["queue \"bench\" has no {tag}", "name it \"{bench}\""]);
    let out = env.thoonk(&[small, &["--queue", "{bench}", "--json"]].concat());
    let results = json_line(&out);
    for phase in ["publish_single", "publish_bulk", "process"] {
        let rate = results[phase]["jobs_per_s"].as_f64().unwrap();
        assert!(rate > 0.0, "{results}");
        // INFO from each master, summed: some CPU was spent.
        let cpu = results[phase]["redis_cpu_us_per_job"].as_f64().unwrap();
        assert!(cpu > 0.0, "{results}");
    }
    assert!(
        results["publish_bulk"]["bytes_per_job"].as_f64().unwrap() > 95.0,
        "{results}"
    );
    // Every phase's queue deleted after it, on every master. Left are
    // only the replies its calls keep for a second run (see `_once.lua`),
    // which expire by themselves.
    for master in env.cluster.masters().unwrap() {
        let keys = env
            .cluster
            .command(master.port, &["KEYS", "job.*"])
            .and_then(Resp::strings)
            .unwrap();
        let (kept, left): (Vec<String>, Vec<String>) = keys
            .into_iter()
            .partition(|k| k.starts_with("job.request:{bench}."));
        assert_eq!(left, Vec::<String>::new(), "left on {}", master.port);
        for key in kept {
            let ttl = env
                .cluster
                .command(master.port, &["PTTL", &key])
                .and_then(Resp::int);
            assert!(ttl.unwrap() > 0, "{key:?} does not expire");
        }
    }
}
