//! Interop with the Node.js Thoonk v1 client, played with raw Redis commands as the v1 layout describes, and one test per v1 flaw that ours fixes.

mod common;

use common::*;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::time::Duration;
use thoonk::redis::{self, aio::MultiplexedConnection};
use thoonk::{Error, Publish, State};
use thoonk_testkit::poll::{within, DEADLINE};

/// A v1 client of one queue: the commands the Node.js package sends.
struct V1 {
    conn: MultiplexedConnection,
    name: String,
}

/// One command from its words.
fn c(words: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    cmd
}

impl V1 {
    async fn new(env: &Env, name: &str) -> V1 {
        V1 {
            conn: env.raw_blocking().await,
            name: name.to_string(),
        }
    }

    fn key(&self, noun: &str) -> String {
        format!("job.{noun}:{}", self.name)
    }

    /// v1 publish script: LPUSH ids, HSET items, ZADD published, INCR publishes.
    async fn publish(&mut self, id: &str, item: &str) {
        let now = now_ms().to_string();
        let () = redis::pipe()
            .atomic()
            .add_command(c(&["LPUSH", &self.key("ids"), id]))
            .ignore()
            .add_command(c(&["HSET", &self.key("items"), id, item]))
            .ignore()
            .add_command(c(&["ZADD", &self.key("published"), &now, id]))
            .ignore()
            .add_command(c(&["INCR", &self.key("publishes")]))
            .ignore()
            .query_async(&mut self.conn)
            .await
            .unwrap();
    }

    /// v1 get: BRPOP from the client, then the claim script (ZADD claimed,
    /// HGET items). Returns (id, item).
    async fn get(&mut self) -> (String, String) {
        let timeout = DEADLINE.as_secs().to_string();
        let (_, id): (String, String) = c(&["BRPOP", &self.key("ids"), &timeout])
            .query_async(&mut self.conn)
            .await
            .expect("v1 BRPOP got a job before its timeout");
        let now = now_ms().to_string();
        let (_, item): (u64, String) = redis::pipe()
            .atomic()
            .add_command(c(&["ZADD", &self.key("claimed"), &now, &id]))
            .add_command(c(&["HGET", &self.key("items"), &id]))
            .query_async(&mut self.conn)
            .await
            .unwrap();
        (id, item)
    }

    /// v1 finish: refused ("Queue not claimed") unless ZREM claimed removed
    /// the id; then HDEL cancelled, ZREM published, INCR finishes, PUBLISH
    /// `id\0result`, HDEL items.
    async fn finish(&mut self, id: &str, result: &str) {
        let removed: u64 = c(&["ZREM", &self.key("claimed"), id])
            .query_async(&mut self.conn)
            .await
            .unwrap();
        assert_eq!(removed, 1, "v1 finish: the job must be claimed");
        let channel = format!("event.job.finish:{}", self.name);
        let payload = format!("{id}\0{result}");
        let () = redis::pipe()
            .atomic()
            .add_command(c(&["HDEL", &self.key("cancelled"), id]))
            .ignore()
            .add_command(c(&["ZREM", &self.key("published"), id]))
            .ignore()
            .add_command(c(&["INCR", &self.key("finishes")]))
            .ignore()
            .add_command(c(&["PUBLISH", &channel, &payload]))
            .ignore()
            .add_command(c(&["HDEL", &self.key("items"), id]))
            .ignore()
            .query_async(&mut self.conn)
            .await
            .unwrap();
    }

    /// v1 cancel: ZREM claimed (must remove it), HINCRBY cancelled, LPUSH ids.
    async fn cancel(&mut self, id: &str) {
        let removed: u64 = c(&["ZREM", &self.key("claimed"), id])
            .query_async(&mut self.conn)
            .await
            .unwrap();
        assert_eq!(removed, 1, "v1 cancel: the job must be claimed");
        let () = redis::pipe()
            .atomic()
            .add_command(c(&["HINCRBY", &self.key("cancelled"), id, "1"]))
            .ignore()
            .add_command(c(&["LPUSH", &self.key("ids"), id]))
            .ignore()
            .query_async(&mut self.conn)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_publisher_and_our_worker() {
    let env = Env::start().await;
    let mut v1 = V1::new(&env, "interop").await;
    let mut pubsub = env.redis_client().get_async_pubsub().await.unwrap();
    pubsub.subscribe("event.job.finish:interop").await.unwrap();
    let mut finishes = pubsub.on_message();

    v1.publish("v1-job", r#"{"to":"ann"}"#).await;
    let q = env.queue("interop");
    let job = q
        .get(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the v1 job");
    assert_eq!(
        (job.id.as_str(), job.item.as_slice(), job.retries),
        ("v1-job", &br#"{"to":"ann"}"#[..], 0)
    );
    let mut raw = env.raw().await;
    env.check_invariants("interop");

    q.finish_with(&job, "sent").await.unwrap();
    let msg = within("the finish event", finishes.next()).await.unwrap();
    assert_eq!(msg.get_payload_bytes(), b"v1-job\0sent");
    let stats = q.stats().await.unwrap();
    assert_eq!(
        (
            stats.publishes,
            stats.finishes,
            stats.available,
            stats.claimed
        ),
        (1, 1, 0, 0)
    );
    let published: Option<u64> =
        cmd(&mut raw, &["ZSCORE", "job.published:interop", "v1-job"]).await;
    assert!(published.is_none());
    env.check_invariants("interop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_publisher_and_a_v1_worker() {
    let env = Env::start().await;
    let mut v1 = V1::new(&env, "interop").await;
    // The v1 worker blocks in BRPOP until our job comes.
    let worker = tokio::spawn(async move {
        let (id, item) = v1.get().await;
        assert_eq!(item, "work");
        v1.finish(&id, "v1 result").await;
        id
    });
    let q = env.queue("interop");
    let result = q
        .publish_and_wait("work", Publish::new(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(result, Some(b"v1 result".to_vec()));
    within("the v1 worker", worker).await.unwrap();
    let stats = q.stats().await.unwrap();
    assert_eq!(
        (
            stats.publishes,
            stats.finishes,
            stats.available,
            stats.claimed
        ),
        (1, 1, 0, 0)
    );
    env.check_invariants("interop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_cancel_is_counted() {
    let env = Env::start().await;
    let mut v1 = V1::new(&env, "interop").await;
    let q = env.queue("interop");
    let id = q.publish("x", Publish::new()).await.unwrap();
    let (got, _) = v1.get().await;
    assert_eq!(got, id);
    v1.cancel(&id).await;

    assert_eq!(q.cancel_count(&id).await.unwrap(), 1);
    let mut raw = env.raw().await;
    env.check_invariants("interop");
    let job = q.claim(1).await.unwrap().pop().expect("back in the queue");
    assert_eq!((job.id.as_str(), job.retries), (id.as_str(), 1));
    // And our cancel counts on from there, readable the v1 way (HGET).
    q.cancel(&job).await.unwrap();
    let n: u64 = cmd(&mut raw, &["HGET", "job.cancelled:interop", &id]).await;
    assert_eq!(n, 2);
}

/// Flaw 1: v1 BRPOPs the id and only then claims it, so a worker dying in
/// between loses the job. Ours waits without taking (BLMOVE of the list onto
/// itself) and moves the id from available to claimed in one script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw1_a_worker_that_dies_after_waiting_loses_nothing() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("flaw1");
    q.publish("x", Publish::new().id("precious")).await.unwrap();

    // A worker is woken by the job... and dies before claiming it.
    let woke = env
        .thoonk
        .wait_for_list("job.ids:flaw1", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(woke);
    env.check_invariants("flaw1");
    assert_eq!(
        q.stats().await.unwrap().available,
        1,
        "the job is still available"
    );

    // Another worker gets it; once claimed it is in job.claimed only.
    let job = env
        .client()
        .await
        .queue("flaw1")
        .unwrap()
        .get(Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, "precious");
    let in_ids: Vec<String> = cmd(&mut raw, &["LRANGE", "job.ids:flaw1", "0", "-1"]).await;
    let claimed_at: Option<u64> = cmd(&mut raw, &["ZSCORE", "job.claimed:flaw1", "precious"]).await;
    assert!(in_ids.is_empty() && claimed_at.is_some());
    env.check_invariants("flaw1");
}

/// Flaw 1, the other half: a waiting `get` never takes an id outside a
/// script. Every command a worker sends that touches job.ids is the claim
/// script (which moves the id to job.claimed in the same run) or a BLMOVE
/// of the list onto itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw1_claim_takes_the_id_only_inside_the_claim_script() {
    let env = Env::start().await;
    let mut admin = env.raw().await;
    let worker = env.client().await.queue("flaw1").unwrap();
    let mut monitor = Monitor::start(&env).await;

    let waiting = tokio::spawn(async move { worker.get(Duration::ZERO).await });
    until_waiting(&admin, 1).await;
    env.queue("flaw1")
        .publish("x", Publish::new().id("j"))
        .await
        .unwrap();
    let job = within("the waiting get", waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(job.id, "j");
    let seen = monitor.take(&mut admin).await;

    let ids_key = b"job.ids:flaw1".to_vec();
    let mut blmoves = 0;
    for s in seen.iter().filter(|s| !s.is_lua()) {
        if !keys_of(&mut admin, s)
            .await
            .unwrap_or_default()
            .contains(&ids_key)
        {
            continue;
        }
        match s.name().as_str() {
            "FCALL" => {}
            "BLMOVE" => {
                assert_eq!(s.args[1], s.args[2], "BLMOVE onto the same list");
                assert_eq!(
                    (&s.args[3][..], &s.args[4][..]),
                    (&b"RIGHT"[..], &b"RIGHT"[..])
                );
                blmoves += 1;
            }
            other => panic!("{other} touched job.ids outside a script"),
        }
    }
    assert!(blmoves >= 1, "the worker did wait");
    // MONITOR does not show what RPOP returned (nothing, before the
    // publish), but the claim script reads the item of each id it took: each
    // of those ids is put in job.claimed by the same run.
    let mut takes = 0;
    for run in script_runs(&seen) {
        if !run
            .inner
            .iter()
            .any(|c| c.name() == "RPOP" && c.args[1] == ids_key)
        {
            continue;
        }
        // The arguments of one command on one key, from `from`, every `step`.
        let on = |name: &str, key: &[u8], from: usize, step: usize| -> Vec<Vec<u8>> {
            run.inner
                .iter()
                .filter(|c| c.name() == name && c.args[1] == key)
                .flat_map(|c| c.args[from..].iter().step_by(step).cloned())
                .collect()
        };
        // One HMGET of the taken ids' items, one ZADD NX of (time, id) pairs.
        let taken = on("HMGET", b"job.items:flaw1", 2, 1);
        let claimed = on("ZADD", b"job.claimed:flaw1", 4, 2);
        assert_eq!(taken, claimed, "every id taken is claimed in the same run");
        takes += taken.len();
    }
    assert_eq!(takes, 1, "the job was taken once");
    env.check_invariants("flaw1");
}

/// Flaw 3: v1 never sent the publish, stall, retry and retract events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw3_publish_stall_retry_retract_events_are_sent() {
    let env = Env::start().await;
    let mut pubsub = env.redis_client().get_async_pubsub().await.unwrap();
    let verbs = ["publish", "stall", "retry", "retract"];
    for verb in verbs {
        pubsub
            .subscribe(format!("event.job.{verb}:flaw3"))
            .await
            .unwrap();
    }
    let mut messages = pubsub.on_message();

    let q = env.queue("flaw3");
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.stall(&job).await.unwrap();
    q.retry("j").await.unwrap();
    q.retract("j").await.unwrap();

    for verb in verbs {
        let msg = within("an event", messages.next()).await.unwrap();
        assert_eq!(msg.get_channel_name(), format!("event.job.{verb}:flaw3"));
        assert_eq!(msg.get_payload_bytes(), b"j");
    }
}

/// Flaw 4: v1's stall removed the id from `job.publishedNAME` (no colon).
/// (Only v1 writes `job.published`; ours still clears its entries.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw4_stall_removes_the_job_from_published() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("flaw4");
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let _: u64 = cmd(&mut raw, &["ZADD", "job.published:flaw4", "1", "j"]).await;
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.stall(&job).await.unwrap();

    let score: Option<u64> = cmd(&mut raw, &["ZSCORE", "job.published:flaw4", "j"]).await;
    assert_eq!(score, None, "a stalled job is not published");
    let typo: u64 = cmd(&mut raw, &["EXISTS", "job.publishedflaw4"]).await;
    assert_eq!(typo, 0, "no key without its colon");
    q.retry("j").await.unwrap();
    env.check_invariants("flaw4");
}

/// Flaw 5: in v1 the result lived only in the pub/sub message. Ours is
/// kept when asked, for whoever was not listening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw5_the_result_outlives_pubsub() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("flaw5");
    // Nobody subscribes at all.
    q.publish(
        "x",
        Publish::new().id("j").keep_result(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let job = q.claim(1).await.unwrap().pop().unwrap();
    q.finish_with(&job, "kept").await.unwrap();

    assert_eq!(
        q.kept_result("j").await.unwrap(),
        Some(Some(b"kept".to_vec()))
    );
    // Kept for a while, not forever.
    let ttl: i64 = cmd(&mut raw, &["TTL", "job.result:flaw5\0j"]).await;
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
}

/// Flaw 6: v1 built key names inside its scripts. Watch every script run
/// with MONITOR and check that each key a script's commands touch is one
/// it declared in KEYS (what Redis Cluster requires).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw6_every_script_declares_the_keys_it_touches() {
    let env = Env::start().await;
    let mut admin = env.raw().await;
    let mut monitor = Monitor::start(&env).await;

    // Every operation that runs a script, refusals included (they read state).
    let q = env.queue("flaw6");
    let keep = Publish::new().keep_result(Duration::from_secs(60));
    q.publish("a", keep.clone().id("a")).await.unwrap();
    q.publish_many([
        ("b", Publish::new().id("b").priority(true)),
        ("c", keep.id("c")),
    ])
    .await
    .unwrap();
    q.publish("again", Publish::new().id("a"))
        .await
        .unwrap_err();
    for state in State::ALL {
        q.list(state, 0, 10).await.unwrap();
    }
    let jobs = q.claim(2).await.unwrap(); // b, a
    q.finish_with(&jobs[1], "r").await.unwrap(); // a: the result is kept
    q.cancel(&jobs[0]).await.unwrap();
    q.finish(&jobs[0]).await.unwrap_err(); // stale/available
    let job = q.get(Duration::from_secs(5)).await.unwrap().unwrap();
    q.stall(&job).await.unwrap();
    q.finish(job.id.as_str()).await.unwrap_err(); // stalled
    q.retry(&job.id).await.unwrap();
    q.retry(&job.id).await.unwrap_err(); // available
    q.finish("missing").await.unwrap_err();
    for state in State::ALL {
        q.list(state, 0, 10).await.unwrap();
    }
    let all = q.claim(10).await.unwrap();
    q.finish(&all[0]).await.unwrap();
    q.publish_many(["x", "y", "z"]).await.unwrap();
    let ids: Vec<String> = q
        .list(State::Available, 0, 3)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    let held = q.claim(2).await.unwrap();
    q.stall(&held[1]).await.unwrap();
    for id in &ids {
        q.retract(id).await.unwrap(); // claimed, stalled, available
    }
    q.retract("missing").await.unwrap_err();
    let seen = monitor.take(&mut admin).await;

    let runs = script_runs(&seen);
    let mut touched = 0;
    for run in &runs {
        for command in &run.inner {
            // PUBLISH names a channel, not a key, and TIME (the server's
            // clock, which every time a script compares or writes comes
            // from) takes no argument at all: the only keyless commands the
            // scripts run. (COMMAND GETKEYS refuses a command without
            // arguments.)
            if command.name() == "TIME" {
                continue;
            }
            let Some(keys) = keys_of(&mut admin, command).await else {
                assert_eq!(command.name(), "PUBLISH");
                continue;
            };
            for key in keys {
                assert!(
                    run.declared.contains(&key),
                    "a script touched {:?} without declaring it (declared {:?})",
                    String::from_utf8_lossy(&key),
                    run.declared
                        .iter()
                        .map(|k| String::from_utf8_lossy(k))
                        .collect::<Vec<_>>()
                );
                touched += 1;
            }
        }
    }
    // Not vacuous: all eight scripts ran and touched keys, the kept result
    // (whose key holds a NUL byte) among them.
    let scripts: BTreeSet<&Vec<u8>> = runs
        .iter()
        .filter(|r| r.inner.iter().any(|c| c.name() != "TIME"))
        .map(|r| &r.script)
        .collect();
    assert_eq!(
        scripts.len(),
        8,
        "publish, claim, finish, cancel, stall, retry, retract, list"
    );
    assert!(touched > 50, "{touched} key accesses checked");
    let kept = seen
        .iter()
        .any(|s| s.is_lua() && s.name() == "SET" && s.args[1] == b"job.result:flaw6\0a");
    assert!(kept, "the kept result was written by a script");
}

/// Flaw 7: v1 pushed an existing id a second time, so one job could be
/// handed out twice. Ours refuses, whoever published the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaw7_an_existing_id_is_refused() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let mut v1 = V1::new(&env, "flaw7").await;
    v1.publish("dup", "from v1").await;
    let q = env.queue("flaw7");
    let err = q
        .publish("from us", Publish::new().id("dup"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { id, .. } if id == "dup"),
        "{err:?}"
    );
    let n: u64 = cmd(&mut raw, &["LLEN", "job.ids:flaw7"]).await;
    assert_eq!(n, 1, "queued once");
    let item: String = cmd(&mut raw, &["HGET", "job.items:flaw7", "dup"]).await;
    assert_eq!(item, "from v1", "the first item stays");
    env.check_invariants("flaw7");
}

/// What a v1 publisher may have left behind: an id queued twice (flaw 7 on
/// its side) is retracted completely, and an id whose item is gone is not
/// handed out as an empty job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_v1_are_cleaned_up() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let mut v1 = V1::new(&env, "left").await;
    v1.publish("twice", "x").await;
    let _: u64 = cmd(&mut raw, &["LPUSH", "job.ids:left", "twice"]).await;
    let q = env.queue("left");
    q.retract("twice").await.unwrap();
    let n: u64 = cmd(&mut raw, &["LLEN", "job.ids:left"]).await;
    assert_eq!(n, 0, "every copy retracted");

    let _: u64 = cmd(&mut raw, &["LPUSH", "job.ids:left", "ghost"]).await;
    v1.publish("real", "y").await;
    // The ghost, nearest the end claims take from, is met first and
    // dropped; the real job is the one handed out, and then nothing is
    // left. (DEADLINE only bounds a hang: the real job is there.)
    let job = q.get(DEADLINE).await.unwrap().expect("the real job");
    assert_eq!((job.id.as_str(), job.item.as_slice()), ("real", &b"y"[..]));
    let n: u64 = cmd(&mut raw, &["LLEN", "job.ids:left"]).await;
    assert_eq!(n, 0, "the ghost id was dropped");
    assert!(q.claim(10).await.unwrap().is_empty(), "nothing else");
    env.check_invariants("left");
}

/// Our claim, then a v1 client's cancel and a v1 worker's claim of the same
/// job: our first token no longer finishes it. (v1 knows nothing of tokens
/// and leaves ours behind; before, that was enough for our old token to
/// finish the job the v1 worker then held.) v1's own claim is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_claim_since_ours_voids_our_token() {
    // Claimed at the server's time, ten seconds ahead of the real one: v1's
    // claim, at the real time (its Date.now()), can never give the job the
    // same score within the same millisecond. (Ten seconds is well within
    // the 30 s lease: to the server, v1's claim is no expired one.)
    let env = Env::start_clocked().await;
    env.advance(Duration::from_secs(10));
    let q = env.queue("tied");
    q.publish("x", Publish::new().id("j")).await.unwrap();
    let ours = q.claim(1).await.unwrap().remove(0);
    let mut v1 = V1::new(&env, "tied").await;
    v1.cancel("j").await;
    let (id, _) = v1.get().await;
    assert_eq!(id, "j");

    let err = q.finish_with(&ours, "late").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleClaim {
                actual: State::Claimed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(q.extend(&[thoonk::JobRef::from(&ours)]).await.unwrap() == ["j"]);
    assert_eq!(q.release(&[thoonk::JobRef::from(&ours)]).await.unwrap(), 0);
    v1.finish("j", "v1's").await;
    // Our record of the claim v1 ended stays until a recovery pass sweeps
    // it (v1's finish knows nothing of it).
    q.recover().await.unwrap();
    let counts = env.check_invariants("tied");
    assert_eq!((counts.items, counts.finishes), (0, 1));
}

/// A job awaited with `publish_and_wait` and finished by a v1 worker: the
/// waiter gets the result from v1's event and clears the mark v1's finish
/// knows nothing of (before, every such mark stayed forever). A mark left
/// for a job that no longer exists is swept by a recovery pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_of_jobs_v1_finished_do_not_stay() {
    let env = Env::start().await;
    let mut raw = env.raw().await;
    let q = env.queue("marks");
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.publish_and_wait("x", Publish::new().id("w"), DEADLINE)
                .await
        })
    };
    let mut v1 = V1::new(&env, "marks").await;
    let (id, _) = v1.get().await;
    v1.finish(&id, "by v1").await;
    let result = within("the waiter", waiter).await.unwrap().unwrap();
    assert_eq!(result.as_deref(), Some(&b"by v1"[..]));
    let marks: u64 = cmd(&mut raw, &["HLEN", "job.awaited:marks"]).await;
    assert_eq!(marks, 0, "the waiter cleared its mark");

    let _: u64 = cmd(&mut raw, &["HSET", "job.awaited:marks", "gone", "60"]).await;
    q.recover().await.unwrap();
    let marks: u64 = cmd(&mut raw, &["HLEN", "job.awaited:marks"]).await;
    assert_eq!(marks, 0, "a mark of a job that no longer exists is swept");
}

/// A queue served by v1 workers alone: delayed jobs (and backed-off
/// retries) fall due, and only our claim script made them available. Now a
/// recovery pass does too (every worker of ours and the dashboard run one),
/// and the v1 worker's BRPOP gets the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_jobs_reach_v1_workers_through_recovery() {
    let env = Env::start_clocked().await;
    let q = env.queue("later");
    q.publish("x", Publish::new().id("d").delay(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(q.recover().await.unwrap().due, 0, "not due yet");
    env.advance(Duration::from_secs(10));
    let mut due = q.subscribe_to(&[thoonk::EventKind::Due]).await.unwrap();
    assert_eq!(q.recover().await.unwrap().due, 1);
    assert_eq!(next_event(&mut due).await.id, "d");
    let mut v1 = V1::new(&env, "later").await;
    assert_eq!(v1.get().await, ("d".to_string(), "x".to_string()));
}

/// A queue that keeps its finished jobs records only the finishes of our
/// script: a v1 worker's finish (its own commands) records nothing, and
/// leaves the history as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_finish_is_not_kept_in_the_history() {
    let env = Env::start().await;
    let q = env.queue("kept");
    q.configure(thoonk::ConfigChange::new().keep_finished(Some(10)))
        .await
        .unwrap();
    q.publish("x", Publish::new().id("ours")).await.unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.finish_with(&job, "by us").await.unwrap();
    let mut v1 = V1::new(&env, "kept").await;
    v1.publish("theirs", "y").await;
    let (id, _) = v1.get().await;
    v1.finish(&id, "by v1").await;
    let kept: Vec<String> = q
        .finished(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(kept, ["ours"]);
    assert_eq!(q.stats().await.unwrap().finishes, 2);
    env.check_invariants("kept");
}
