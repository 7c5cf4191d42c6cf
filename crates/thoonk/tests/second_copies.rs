//! A second copy of a job in the list (a retract of a long list leaves
//! one behind, a v1 publisher could queue an id twice) is never handed out
//! while the job is claimed, even by a claim that runs in the same
//! millisecond as the one that holds it: `claim.lua` adds what it takes to
//! job.claimed with ZADD NX, and reads job.claimed back only when that
//! added fewer than it took; a job's score alone then cannot tell whose
//! claim of this millisecond added it.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Job, Publish, State};

fn ids(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|job| job.id.as_str()).collect()
}

/// The score a claim record ('TOKEN\0SCORE') holds.
fn score_of(record: &str) -> &str {
    record
        .split('\0')
        .nth(1)
        .expect("a claim record has a score")
}

/// Two claims sent together, which Redis runs back to back, most often in
/// one millisecond: the second meets the copy of the job the first took,
/// which has the second's very score; the first's claim record tells them
/// apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_job_our_claim_of_the_same_millisecond_holds_is_dropped() {
    let env = Env::start().await;
    let q = env.queue("copies");
    let mut raw = env.raw().await;
    let mut same_ms = 0;
    for round in 0..20 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        q.publish("x", Publish::new().id(&a)).await.unwrap();
        q.publish("y", Publish::new().id(&b)).await.unwrap();
        // The list, from the end claims take: a, b, then a's copy.
        let _: u64 = cmd(&mut raw, &["LPUSH", "job.ids:copies", &a]).await;
        let (first, second) = tokio::join!(q.claim(1), q.claim(2));
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(ids(&first), [a.as_str()]);
        assert_eq!(ids(&second), [b.as_str()], "the copy of {a} is dropped");
        let records: Vec<String> = cmd(&mut raw, &["HMGET", "job.tokens:copies", &a, &b]).await;
        if score_of(&records[0]) == score_of(&records[1]) {
            same_ms += 1;
        }
        env.check_invariants("copies");
        q.finish(&first[0]).await.unwrap();
        q.finish(&second[0]).await.unwrap();
    }
    assert!(
        same_ms > 0,
        "no two claims ran in one millisecond in 20 rounds: the case was not met"
    );
    assert!(q.list(State::Available, 0, 10).await.unwrap().is_empty());
    env.check_invariants("copies");
}

/// A v1 worker's claim of the job in the same millisecond (its ZADD and
/// our claim in one MULTI): neither the job's score nor a claim record
/// tells which of the two jobs the claim added, so it hands out neither.
/// Both stay claimed, as v1 claims, and come back once the lease runs out;
/// the job is then handed out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_job_a_v1_claim_of_the_same_millisecond_holds_is_not_handed_out() {
    let env = Env::start_clocked().await;
    let mut raw = env.raw().await;
    let (_, functions) = thoonk::testing::scripts();
    let claim = functions
        .iter()
        .find(|(file, _)| *file == "claim.lua")
        .map(|(_, function)| *function)
        .unwrap();
    for round in 0..20 {
        let name = format!("v1copy{round}");
        let q = env.queue(&name);
        q.publish("x", Publish::new().id("a")).await.unwrap();
        q.publish("y", Publish::new().id("b")).await.unwrap();
        // v1's claim of a: BRPOP, then ZADD at its time (here the server's).
        let _: (String, String) = cmd(&mut raw, &["BRPOP", &format!("job.ids:{name}"), "1"]).await;
        let _: u64 = cmd(&mut raw, &["LPUSH", &format!("job.ids:{name}"), "a"]).await;
        let key = |noun: &str| format!("job.{noun}:{name}");
        let mut fcall = redis::cmd("FCALL");
        fcall.arg(claim).arg(CLAIM_KEYS.len() + 1);
        for noun in CLAIM_KEYS {
            fcall.arg(key(noun));
        }
        fcall
            .arg(format!("job.request:{name}\0"))
            .arg("2")
            .arg(format!("event.job.claim:{name}"))
            .arg("") // no worker
            .arg(format!("event.job.due:{name}"))
            .arg(format!("event.job.held:{name}"))
            .arg(""); // no request id: nothing remembered
        let v1_claim = "local t = redis.call('TIME') \
            return redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])";
        let (_, reply): (u64, Vec<redis::Value>) = redis::pipe()
            .atomic()
            .cmd("EVAL")
            .arg(v1_claim)
            .arg(1)
            .arg(key("claimed"))
            .arg("a")
            .add_command(fcall)
            .query_async(&mut raw)
            .await
            .unwrap();
        let scores: Vec<Option<u64>> = cmd(&mut raw, &["ZMSCORE", &key("claimed"), "a", "b"]).await;
        let handed_out = (reply.len() - 2) / 4;
        if scores[0] != scores[1] {
            // Not one millisecond: the copy of a is told apart by its
            // score and dropped; b is claimed.
            assert_eq!(handed_out, 1, "b alone");
            continue;
        }
        assert_eq!(handed_out, 0, "neither a nor b");
        let record: Option<String> = cmd(&mut raw, &["HGET", &key("tokens"), "b"]).await;
        assert_eq!(
            record, None,
            "b is claimed as a v1 claim is: with no record"
        );
        env.check_invariants(&name);

        env.advance(Duration::from_secs(31));
        assert_eq!(q.recover().await.unwrap().requeued, 2);
        let claimed = q.claim(10).await.unwrap();
        let mut got = ids(&claimed);
        got.sort();
        assert_eq!(got, ["a", "b"], "each handed out once");
        env.check_invariants(&name);
        return;
    }
    panic!("no v1 claim and claim met in one millisecond in 20 rounds: the case was not met");
}
