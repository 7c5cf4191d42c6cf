//! Workers racing for jobs: every job is claimed by exactly one of them.

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thoonk::Publish;
use thoonk_testkit::poll::{eventually_progressing, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_waiting_workers_one_job_one_winner() {
    let env = Env::start().await;
    let admin = env.raw().await;
    let mut workers = Vec::new();
    for _ in 0..8 {
        // Separate clients, as separate processes would be.
        let q = env.client().await.queue("race").unwrap();
        // The losers give up after this; long enough for all eight to be
        // waiting before the job is published.
        workers.push(tokio::spawn(
            async move { q.get(Duration::from_secs(5)).await },
        ));
    }
    // All eight are blocked in Redis, so they all see the publish.
    until_waiting(&admin, 8).await;
    let id = env
        .queue("race")
        .publish("prize", Publish::new())
        .await
        .unwrap();

    let mut winners = Vec::new();
    for w in workers {
        if let Some(job) = within("a racing worker", w).await.unwrap().unwrap() {
            winners.push(job.id);
        }
    }
    assert_eq!(winners, [id], "exactly one worker got the job");
    let q = env.queue("race");
    assert_eq!(q.stats().await.unwrap().claimed, 1);
    env.check_invariants("race");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_claims_of_one_job() {
    let env = Env::start().await;
    env.queue("claim-race")
        .publish("prize", Publish::new())
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let q = env.client().await.queue("claim-race").unwrap();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            q.claim(1).await
        }));
    }
    let mut got = 0;
    for t in tasks {
        got += within("a claim", t).await.unwrap().unwrap().len();
    }
    assert_eq!(got, 1);
    env.check_invariants("claim-race");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_jobs_many_workers_each_job_claimed_once() {
    const JOBS: usize = 300;
    let env = Env::start().await;
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..4 {
        let q = env.client().await.queue("busy").unwrap();
        let done = done.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while done.load(Ordering::SeqCst) < JOBS {
                // Wait for work; then some take one job, some a batch.
                let Some(first) = q.get(Duration::from_millis(100)).await.unwrap() else {
                    continue;
                };
                let mut jobs = vec![first];
                if w % 2 == 1 {
                    jobs.extend(q.claim(6).await.unwrap());
                }
                for job in jobs {
                    q.finish_with(&job, &job.item).await.unwrap();
                    mine.push(job.id);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
            mine
        }));
    }
    // Published while the workers already run, in a few batches.
    let q = env.queue("busy");
    let mut published = Vec::new();
    for chunk in 0..(JOBS / 50) {
        let batch: Vec<String> = (0..50).map(|i| format!("{}", chunk * 50 + i)).collect();
        published.extend(q.publish_many(batch).await.unwrap());
    }

    // Bounded only while jobs get done, however loaded the machine.
    eventually_progressing(
        "every job done",
        || async { done.load(Ordering::SeqCst) },
        |&n| n >= JOBS,
    )
    .await;
    let mut claims: HashMap<String, usize> = HashMap::new();
    for w in workers {
        for id in within("a worker", w).await.unwrap() {
            *claims.entry(id).or_default() += 1;
        }
    }
    assert_eq!(claims.len(), JOBS, "every job was claimed");
    assert!(claims.values().all(|&n| n == 1), "no job was claimed twice");
    for id in &published {
        assert!(claims.contains_key(id));
    }
    let stats = q.stats().await.unwrap();
    assert_eq!(
        (stats.finishes, stats.available, stats.claimed),
        (JOBS as u64, 0, 0)
    );
    env.check_invariants("busy");
}
