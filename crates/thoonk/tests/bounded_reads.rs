//! Reads a dashboard repeats, bounded by what it shows rather than by the
//! size of the payloads: a listing that leaves large payloads in Redis
//! (only their sizes read), and schedules without their items.

mod common;

use common::*;
use std::time::Duration;
use thoonk::{Publish, Schedule, State};

#[tokio::test]
async fn a_bounded_listing_reads_sizes_not_large_payloads() {
    let env = Env::start().await;
    let q = env.queue("q");
    let big = vec![b'x'; 100_000];
    q.publish(&big, Publish::new().id("big")).await.unwrap();
    q.publish("small", Publish::new().id("small"))
        .await
        .unwrap();
    q.publish("", Publish::new().id("empty")).await.unwrap();

    let listed = q.list_within(State::Available, 0, 10, 1000).await.unwrap();
    let seen: Vec<_> = listed
        .iter()
        .map(|j| (j.id.as_str(), j.item.len(), j.size))
        .collect();
    assert_eq!(
        seen,
        [("big", 0, 100_000), ("small", 5, 5), ("empty", 0, 0)]
    );
    // Unbounded, as before: every payload whole.
    let whole = q.list(State::Available, 0, 10).await.unwrap();
    assert_eq!((whole[0].item.len(), whole[0].size), (100_000, 100_000));
    // A retracted job's ghost id is no job, bounded or not.
    q.retract("small").await.unwrap();
    let ids: Vec<_> = q
        .list_within(State::Available, 0, 10, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids, ["big", "empty"]);
}

#[tokio::test]
async fn schedules_read_without_their_items() {
    let env = Env::start().await;
    let q = env.queue("q");
    let item = vec![b'i'; 100_000];
    let every = Schedule::every(Duration::from_secs(60));
    q.schedule("beat", every, &item).await.unwrap();
    let whole = q.schedules().await.unwrap();
    let light = q.schedules_without_items().await.unwrap();
    assert_eq!(whole[0].item.len(), 100_000);
    assert!(light[0].item.is_empty());
    let same = |s: &thoonk::ScheduleInfo| {
        (
            s.name.clone(),
            s.spec.clone(),
            s.zone.clone(),
            s.next_run_ms,
            s.last_run_ms,
        )
    };
    assert_eq!(same(&whole[0]), same(&light[0]));
}

/// One job's record, bounded as a listing is: a payload over the bound is
/// left in Redis and only its size read; an empty one is still a job.
#[tokio::test]
async fn a_bounded_detail_reads_the_size_not_a_large_payload() {
    let env = Env::start().await;
    let q = env.queue("q");
    let big = vec![b'x'; 100_000];
    q.publish(&big, Publish::new().id("big")).await.unwrap();
    q.publish("", Publish::new().id("empty")).await.unwrap();

    let bounded = q.detail_within("big", Some(1000)).await.unwrap().unwrap();
    assert_eq!((bounded.item.len(), bounded.size), (0, 100_000));
    assert_eq!(bounded.state, State::Available);
    let whole = q.detail("big").await.unwrap().unwrap();
    assert_eq!((whole.item.len(), whole.size), (100_000, 100_000));
    let empty = q.detail_within("empty", Some(1000)).await.unwrap().unwrap();
    assert_eq!((empty.item.len(), empty.size), (0, 0));
    assert_eq!(q.detail_within("none", Some(1000)).await.unwrap(), None);
}
