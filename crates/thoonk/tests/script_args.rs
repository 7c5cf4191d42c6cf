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

/// A queue with a job in each state; returns the claimed job's token.
async fn each_state(q: &Queue) -> String {
    for id in ["stalled", "claimed", "available"] {
        q.publish("x", Publish::new().id(id)).await.unwrap();
    }
    let stalled = q.claim(1).await.unwrap().remove(0);
    q.stall(&stalled).await.unwrap();
    let claimed = q.claim(1).await.unwrap().remove(0);
    assert_eq!(claimed.id, "claimed");
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
/// must be refused when spoiled (1-based, as `ARGV[i]`): numbers, job ids
/// and '0'/'1' flags.
struct Call {
    script: &'static str,
    keys: Vec<String>,
    args: Vec<String>,
    numbers: &'static [usize],
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

/// Far in the future, so that a recovery pass would take every claim back.
const LATER: &str = "9000000000000";

fn calls(token: &str) -> Vec<Call> {
    let now = common::now_ms().to_string();
    let ch = |verb: &str| format!("event.job.{verb}:{Q}");
    vec![
        Call {
            script: "publish.lua",
            keys: keys(&["ids", "items", "publishes", "awaited", "delayed", "ghosts"]),
            args: strings(&[
                &now,
                &ch("publish"),
                &ch("delay"),
                "new",
                "x",
                "0",
                "60",
                "0",
            ]),
            numbers: &[1, 7, 8],
            ids: &[4],
            flags: &[6],
        },
        Call {
            script: "claim.lua",
            keys: keys(&[
                "ids",
                "claimed",
                "items",
                "cancelled",
                "tokens",
                "claims",
                "delayed",
                "stalled",
                "holders",
                "ghosts",
            ]),
            args: strings(&[LATER, "10", &ch("claim"), "", &ch("due")]),
            numbers: &[1, 2],
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
                    "holders",
                ]);
                k.push(format!("job.result:{Q}\0claimed"));
                k
            },
            args: strings(&[&ch("finish"), "claimed", token, "1", "done"]),
            numbers: &[],
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
                "holders",
            ]),
            args: strings(&[
                "claimed",
                token,
                &now,
                "1000",
                "why",
                "25",
                &ch("cancel"),
                &ch("delay"),
                &ch("stall"),
            ]),
            numbers: &[3, 4, 6],
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
                "holders",
            ]),
            args: strings(&["claimed", token, "why", &ch("stall")]),
            numbers: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "retry.lua",
            keys: keys(&["stalled", "items", "claimed", "delayed", "ids"]),
            args: strings(&["stalled", &ch("retry")]),
            numbers: &[],
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
                "holders",
                "ghosts",
            ]),
            args: strings(&["available", &ch("retract")]),
            numbers: &[],
            ids: &[1],
            flags: &[],
        },
        Call {
            script: "extend.lua",
            keys: keys(&["claimed", "tokens", "workers", "items"]),
            args: strings(&[LATER, "w1", LATER, "claimed", token]),
            numbers: &[1, 3],
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
            ]),
            args: strings(&[
                LATER,
                "30000",
                "25",
                &ch("cancel"),
                &ch("stall"),
                &ch("due"),
            ]),
            numbers: &[1, 2, 3],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "release.lua",
            keys: keys(&["claimed", "tokens", "ids", "holders"]),
            args: strings(&[&ch("release"), "claimed", token]),
            numbers: &[],
            ids: &[],
            flags: &[],
        },
        Call {
            script: "retry_all.lua",
            keys: keys(&["stalled", "ids"]),
            args: strings(&[&ch("retry"), "1000"]),
            numbers: &[2],
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

fn eval(redis: &PrivateRedis, source: &str, call: &Call, args: &[String]) -> Resp {
    let mut command: Vec<&str> = vec!["EVAL", source];
    let n = call.keys.len().to_string();
    command.push(&n);
    command.extend(call.keys.iter().map(String::as_str));
    command.extend(args.iter().map(String::as_str));
    redis.command(&command).expect("a reply")
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
    let env = Env::start().await;
    let q = env.queue(Q);
    let sources = thoonk::testing::scripts();
    for i in 0..calls("").len() {
        // Each script on the same fresh state: a job in each state.
        q.destroy().await.unwrap();
        let token = each_state(&q).await;
        let call = calls(&token).remove(i);
        let source = sources
            .iter()
            .find(|(file, _)| *file == call.script)
            .map(|(_, source)| *source)
            .expect("the script's source");
        let before = env.snapshot();
        let spoiled = [
            (call.numbers, BAD_NUMBERS),
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
                let reply = eval(&env.redis, source, &call, &args);
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
            let reply = eval(&env.redis, source, &call, short);
            refused(
                &env,
                reply,
                &before,
                &format!("{}: one argument short", call.script),
            );
        }
        // The good call writes: the refusals above were of the arguments.
        let reply = eval(&env.redis, source, &call, &call.args);
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
