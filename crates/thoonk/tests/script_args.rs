//! Every script that writes checks every argument before its first write:
//! driven directly with bad values (empty, negative, not a number, a
//! fraction, infinite, past its bound, one argument too few), each call is
//! refused with an error that says so, and nothing in Redis changed. The
//! same calls with good values do write, so the refusals are not vacuous.

mod common;

use common::*;
use thoonk::{Publish, Queue};
use thoonk_testkit::{DbSnapshot, PrivateRedis, Resp};

const Q: &str = "args";

/// A queue with a job in each state, and a schedule due long ago; returns
/// the claimed job's token.
async fn each_state(env: &Env, q: &Queue) -> String {
    for id in ["stalled", "claimed", "available"] {
        q.publish("x", Publish::new().id(id)).await.unwrap();
    }
    let stalled = q.claim(1).await.unwrap().remove(0);
    q.stall(&stalled).await.unwrap();
    let claimed = q.claim(1).await.unwrap().remove(0);
    assert_eq!(claimed.id, "claimed");
    // A schedule due long ago, its revision known (`fire_schedule.lua`).
    let mut conn = env.thoonk.connection();
    let record = "r1\0every 60s\0UTC\0\0item";
    let _: () = redis::pipe()
        .hset(key("schedules"), "beat", record)
        .zadd(key("ticks"), "beat", 60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    q.publish(
        "x",
        Publish::new()
            .id("delayed")
            .delay(std::time::Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    claimed.token
}

/// One script's call: its keys and good arguments, and which arguments
/// must be refused when spoiled (1-based, as `ARGV[i]`): numbers (and
/// numbers that may be left empty), job ids and '0'/'1' flags.
struct Call {
    script: &'static str,
    keys: Vec<String>,
    args: Vec<String>,
    numbers: &'static [usize],
    numbers_or_empty: &'static [usize],
    ids: &'static [usize],
    flags: &'static [usize],
}

fn key(noun: &str) -> String {
    format!("job.{noun}:{Q}")
}

fn keys(nouns: &[&str]) -> Vec<String> {
    nouns.iter().map(|n| key(n)).collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn calls(token: &str) -> Vec<Call> {
    let ch = |verb: &str| format!("event.job.{verb}:{Q}");
    vec![
        Call {
            script: "publish.lua",
            keys: {
                let mut k = keys(&[
                    "ids",
                    "items",
                    "publishes",
                    "awaited",
                    "delayed",
                    "ghosts",
                    "claimed",
                    "stalled",
                    "marks",
                    "marked",
                    "tally",
                ]);
                k.push(format!("job.result:{Q}\0new"));
                k.push(format!("job.unique:{Q}\0new"));
                k
            },
            args: strings(&[
                &ch("publish"),
                &ch("delay"),
                "new",
                "x",
                "0",
                "60",
                "1000",
                "5000",
            ]),
            numbers: &[6, 7, 8],
            numbers_or_empty: &[],
            ids: &[3],
            flags: &[5],
        },
        Call {
            script: "claim.lua",
            keys: keys(&CLAIM_KEYS),
            args: strings(&["10", &ch("claim"), "w1", &ch("due"), &ch("held")]),
            numbers: &[1],
            numbers_or_empty: &[],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "finish.lua",
            keys: {
                let mut k = keys(&[
                    "claimed",
                    "items",
                    "stalled",
                    "delayed",
                    "tokens",
                    "cancelled",
                    "published",
                    "finishes",
                    "awaited",
                    "reasons",
                    "config",
                    "keep",
                    "finished",
                    "history",
                    "progress",
                    "tally",
                ]);
                k.push(format!("job.result:{Q}\0claimed"));
                k
            },
            args: strings(&[&ch("finish"), "claimed", token, "1", "done", "250"]),
            numbers: &[],
            numbers_or_empty: &[6],
            ids: &[2],
            flags: &[4],
        },
        Call {
            script: "cancel.lua",
            keys: keys(&[
                "claimed",
                "items",
                "stalled",
                "delayed",
                "tokens",
                "cancelled",
                "ids",
                "reasons",
                "config",
                "published",
                "cancels",
                "stalls",
                "progress",
                "marks",
                "marked",
                "tally",
            ]),
            args: strings(&[
                "claimed",
                token,
                "1000",
                "why",
                "25",
                &ch("cancel"),
                &ch("delay"),
                &ch("stall"),
            ]),
            numbers: &[3, 5],
            numbers_or_empty: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "stall.lua",
            keys: keys(&[
                "claimed",
                "items",
                "stalled",
                "delayed",
                "tokens",
                "cancelled",
                "published",
                "reasons",
                "stalls",
                "progress",
                "tally",
            ]),
            args: strings(&["claimed", token, "why", &ch("stall")]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "retry.lua",
            keys: keys(&[
                "stalled", "items", "claimed", "delayed", "ids", "marks", "marked",
            ]),
            args: strings(&["stalled", &ch("retry")]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "retract.lua",
            keys: keys(&[
                "items",
                "cancelled",
                "published",
                "stalled",
                "claimed",
                "ids",
                "tokens",
                "awaited",
                "delayed",
                "reasons",
                "ghosts",
                "progress",
                "marks",
                "marked",
            ]),
            args: strings(&["available", &ch("retract")]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "extend.lua",
            keys: keys(&[
                "claimed",
                "tokens",
                "workers",
                "items",
                "holders",
                "pulse",
                "worker_info",
            ]),
            args: strings(&["w1", "3000", "", "claimed", token]),
            numbers: &[2],
            numbers_or_empty: &[],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "recover.lua",
            keys: keys(&[
                "claimed",
                "tokens",
                "workers",
                "cancelled",
                "ids",
                "stalled",
                "published",
                "reasons",
                "config",
                "cancels",
                "stalls",
                "recoveries",
                "items",
                "awaited",
                "delayed",
                "holders",
                "pulse",
                "progress",
                "marks",
                "marked",
                "tally",
                "worker_info",
            ]),
            args: strings(&["30000", "25", &ch("cancel"), &ch("stall"), &ch("due")]),
            numbers: &[1, 2],
            numbers_or_empty: &[],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "release.lua",
            keys: keys(&["claimed", "tokens", "ids", "progress"]),
            args: strings(&[&ch("release"), "claimed", token]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "retry_all.lua",
            keys: keys(&[
                "stalled", "ids", "items", "claimed", "delayed", "marks", "marked",
            ]),
            args: strings(&[&ch("retry"), "1000"]),
            numbers: &[2],
            numbers_or_empty: &[],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "progress.lua",
            keys: keys(&[
                "claimed", "items", "stalled", "delayed", "tokens", "progress",
            ]),
            args: strings(&["claimed", token, "50", &ch("progress")]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "schedule.lua",
            keys: keys(&["schedules", "ticks", "publishes"]),
            args: strings(&[
                &ch("schedule"),
                "new",
                "r2",
                "every 60s",
                "UTC",
                "item",
                "60000",
            ]),
            numbers: &[7],
            numbers_or_empty: &[],
            ids: &[2],
            flags: &[],
        },
        Call {
            script: "unschedule.lua",
            keys: keys(&["schedules", "ticks"]),
            args: strings(&[&ch("unschedule"), "beat"]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[2],
            flags: &[],
        },
        Call {
            script: "fire_schedule.lua",
            keys: keys(&[
                "schedules",
                "ticks",
                "ids",
                "items",
                "publishes",
                "ghosts",
                "claimed",
                "stalled",
                "delayed",
                "marks",
                "marked",
                "tally",
            ]),
            args: strings(&[&ch("publish"), "beat", "60000", "r1", "120000"]),
            numbers: &[3, 5],
            numbers_or_empty: &[],
            ids: &[2],
            flags: &[],
        },
        // (Its bad values are in flow.rs: here an empty value is no
        // refusal but a setting removed.)
        Call {
            script: "configure.lua",
            keys: keys(&["config", "flow", "keep", "finished", "history"]),
            args: strings(&[
                &ch("config"),
                &ch("pause"),
                &ch("resume"),
                "max_running",
                "5",
            ]),
            numbers: &[],
            numbers_or_empty: &[],
            ids: &[],
            flags: &[],
        },
    ]
}

/// Values no number takes: empty, negative, not a number, a fraction,
/// infinite, hexadecimal, past any bound.
const BAD_NUMBERS: &[&str] = &[
    "",
    "-1",
    "abc",
    "1.5",
    "inf",
    "nan",
    "0x10",
    "99999999999999999999",
];
/// No job has an empty id.
const BAD_IDS: &[&str] = &[""];
/// A flag is '0' or '1'.
const BAD_FLAGS: &[&str] = &["", "2", "yes", "-1"];

/// Runs `call`'s script (its function in the library, `function`) with
/// `args`, as request `request`: its key and id go last, as the library
/// sends them (see `_once.lua`). Loads the library first where the server
/// does not have it, as the library does.
fn eval(redis: &PrivateRedis, function: &str, call: &Call, args: &[String], request: &str) -> Resp {
    let request_key = format!("job.request:{Q}\0{request}");
    let mut command: Vec<&str> = vec!["FCALL", function];
    let n = (call.keys.len() + 1).to_string();
    command.push(&n);
    command.extend(call.keys.iter().map(String::as_str));
    command.push(&request_key);
    command.extend(args.iter().map(String::as_str));
    command.push(request);
    match redis.command(&command).expect("a reply") {
        Resp::Error(e) if e.contains("Function not found") => {
            let (library, _) = thoonk::testing::scripts();
            redis
                .command(&["FUNCTION", "LOAD", "REPLACE", library])
                .expect("the library loads");
            redis.command(&command).expect("a reply")
        }
        reply => reply,
    }
}

/// Script `i` of [`calls`] on a fresh queue with a job in each state, and
/// its function's name.
async fn fresh(env: &Env, q: &Queue, i: usize) -> (Call, &'static str) {
    q.destroy().await.unwrap();
    let token = each_state(env, q).await;
    let call = calls(&token).remove(i);
    let (_, functions) = thoonk::testing::scripts();
    let function = functions
        .iter()
        .find(|(file, _)| *file == call.script)
        .map(|(_, function)| *function)
        .expect("the script's function");
    (call, function)
}

/// A recovery pass writes once a claim's lease ran out, or a delayed job
/// fell due: an hour and more later, in server time.
fn make_recovery_write(env: &Env, call: &Call) {
    if call.script == "recover.lua" {
        env.advance(std::time::Duration::from_secs(7200));
    }
}

/// Asserts `reply` is a refusal of a bad argument, and that nothing in
/// Redis changed since `before`.
#[track_caller]
fn refused(env: &Env, reply: Resp, before: &DbSnapshot, what: &str) {
    match reply {
        Resp::Error(e) => assert!(e.contains("nothing written"), "{what}: {e}"),
        other => panic!("{what}: not refused: {other:?}"),
    }
    assert!(env.snapshot() == *before, "{what}: Redis changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_script_refuses_bad_arguments_before_writing() {
    let env = Env::start_clocked().await;
    let q = env.queue(Q);
    for i in 0..calls("").len() {
        // Each script on the same fresh state: a job in each state.
        let (call, source) = fresh(&env, &q, i).await;
        let before = env.snapshot();
        let spoiled = [
            (call.numbers, BAD_NUMBERS),
            (call.numbers_or_empty, &BAD_NUMBERS[1..]),
            (call.ids, BAD_IDS),
            (call.flags, BAD_FLAGS),
        ];
        for (arg, bad) in spoiled.iter().flat_map(|(args, bad)| {
            args.iter()
                .flat_map(move |&a| bad.iter().map(move |b| (a, b)))
        }) {
            {
                let mut args = call.args.clone();
                args[arg - 1] = bad.to_string();
                let reply = eval(&env.redis, source, &call, &args, "");
                refused(
                    &env,
                    reply,
                    &before,
                    &format!("{} ARGV[{arg}] = {bad:?}", call.script),
                );
            }
        }
        // One argument too few: a batch's last job cut short.
        if call.script != "retry_all.lua" {
            let short = &call.args[..call.args.len() - 1];
            let reply = eval(&env.redis, source, &call, short, "");
            refused(
                &env,
                reply,
                &before,
                &format!("{}: one argument short", call.script),
            );
        }
        // The good call writes: the refusals above were of the arguments.
        make_recovery_write(&env, &call);
        let good = format!("{}-good", call.script);
        let reply = eval(&env.redis, source, &call, &call.args, &good);
        assert!(
            !matches!(reply, Resp::Error(_)),
            "{}: {reply:?}",
            call.script
        );
        assert!(
            env.snapshot() != before,
            "{}: the good call wrote nothing",
            call.script
        );
        env.check_invariants(Q);
    }
}

/// Once, even when sent twice: each script that writes, run a second time
/// as the same request (a client that sent it again, its connection having
/// dropped before the reply came), gives the first run's reply and writes
/// nothing. Run as a new request, the same call would not: a publish would
/// find its job there already, a claim take other jobs, a finish find its
/// job gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_script_sent_twice_has_the_effect_and_the_reply_of_one_run() {
    let env = Env::start_clocked().await;
    let q = env.queue(Q);
    for i in 0..calls("").len() {
        let (call, source) = fresh(&env, &q, i).await;
        make_recovery_write(&env, &call);
        let before = env.snapshot();
        // (Each call its own request, as the library sends them.)
        let request = format!("{}-sent-twice", call.script);
        let first = eval(&env.redis, source, &call, &call.args, &request);
        assert!(
            !matches!(first, Resp::Error(_)),
            "{}: {first:?}",
            call.script
        );
        let once = env.snapshot();
        assert!(once != before, "{}: the call wrote nothing", call.script);
        let again = eval(&env.redis, source, &call, &call.args, &request);
        assert_eq!(again, first, "{}: the second run's reply", call.script);
        assert!(
            env.snapshot() == once,
            "{}: the second run wrote",
            call.script
        );
        env.check_invariants(Q);
        if call.script != "extend.lua" {
            // (An extend as a new request renews the lease again: the same
            // reply, a later score.)
            let new = format!("{}-new", call.script);
            let fresh = eval(&env.redis, source, &call, &call.args, &new);
            assert!(
                fresh != first || env.snapshot() != once,
                "{}: a new request had no effect either, so the test shows nothing",
                call.script
            );
        }
    }
}

/// The case: a kept-result TTL that Redis's `SET … EX` refuses
/// (here written straight into `job.awaited`, as another program could)
/// made `finish.lua` fail after it had deleted the job: no finish counted,
/// no event, the waiter never told. Now the finish goes through, and only
/// the result is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_result_ttl_redis_refuses_does_not_stop_a_finish() {
    let env = Env::start().await;
    let q = env.queue(Q);
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let mut raw = env.raw().await;
    let _: i64 = cmd(
        &mut raw,
        &["HSET", &key("awaited"), "j", "100000000000000000"],
    )
    .await;
    let mut finishes = q.subscribe_to(&[thoonk::EventKind::Finish]).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.finish_with(&job, "done").await.unwrap();
    let event = next_event(&mut finishes).await;
    assert_eq!(
        (event.id.as_str(), event.result.as_deref()),
        ("j", Some(&b"done"[..]))
    );
    let counts = env.check_invariants(Q);
    assert_eq!((counts.finishes, counts.items), (1, 0));
    assert_eq!(q.kept_result("j").await.unwrap(), None);
    let awaited: i64 = cmd(&mut raw, &["HLEN", &key("awaited")]).await;
    assert_eq!(awaited, 0, "the mark goes with the job");
}
