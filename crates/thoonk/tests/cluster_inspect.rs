//! Looking at a real Redis Cluster (three masters, three replicas, all started here): `queues()` finds the queues on every master.

mod common;

use common::ClusterEnv;
use std::collections::{BTreeMap, BTreeSet};
use thoonk::Publish;
use thoonk_testkit::Resp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_finds_the_queues_of_every_master() {
    let env = ClusterEnv::start().await;
    let (cluster, thoonk) = (&env.cluster, &env.thoonk);
    assert!(thoonk.queues().await.unwrap().is_empty());

    // Two queues on each master, whichever tags that takes.
    let masters: BTreeSet<u16> = cluster
        .masters()
        .unwrap()
        .into_iter()
        .map(|m| m.port)
        .collect();
    assert_eq!(masters.len(), 3);
    let mut wanted = Vec::new();
    let mut per_master = BTreeMap::<u16, usize>::new();
    for i in 0.. {
        let name = format!("{{q{i}}}");
        let port = env.master_of(&name);
        let n = per_master.entry(port).or_default();
        if *n < 2 {
            *n += 1;
            wanted.push(name);
        }
        if per_master.len() == 3 && per_master.values().all(|&n| n == 2) {
            break;
        }
    }
    for name in &wanted {
        thoonk
            .queue(name)
            .unwrap()
            .publish("x", Publish::new())
            .await
            .unwrap();
    }
    // A v1 program's queue, made with v1's own counter on its master.
    let v1 = "{v1}";
    let v1_master = env.master_of(v1);
    cluster
        .command(v1_master, &["INCR", &format!("job.publishes:{v1}")])
        .and_then(Resp::into_result)
        .unwrap();
    wanted.push(v1.to_string());
    // A destroyed queue is gone.
    let gone = thoonk.queue("{gone}").unwrap();
    gone.publish("x", Publish::new()).await.unwrap();
    gone.destroy().await.unwrap();

    wanted.sort();
    assert_eq!(thoonk.queues().await.unwrap(), wanted);
}

/// What the dashboard's panels read, on a cluster: `INFO` of each master
/// (named by its address), and a queue's memory, reasons and workers at
/// work on the master of its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panels_read_every_master_and_each_queue_on_its_own() {
    let env = ClusterEnv::start().await;
    let (cluster, thoonk) = (&env.cluster, &env.thoonk);
    let servers = thoonk.server_info().await.unwrap();
    let ports: BTreeSet<u16> = cluster
        .masters()
        .unwrap()
        .into_iter()
        .map(|m| m.port)
        .collect();
    let named: BTreeSet<u16> = servers
        .iter()
        .filter_map(|s| s.address.as_deref()?.rsplit_once(':')?.1.parse().ok())
        .collect();
    assert_eq!(named, ports, "{servers:?}");
    assert!(servers
        .iter()
        .all(|s| !s.version.is_empty() && s.used_memory > 0));

    let q = thoonk.queue("{mail}").unwrap();
    q.publish(&"x".repeat(5_000), Publish::new().id("a"))
        .await
        .unwrap();
    let job = q.claim(1).await.unwrap().remove(0);
    q.stall_with(&job, "bad address 17").await.unwrap();
    assert!(q.memory(5).await.unwrap().bytes > 5_000);
    let mut seen = Vec::new();
    let scan = q
        .scan_reasons(10, |id, reason| {
            seen.push((id, reason));
            true
        })
        .await
        .unwrap();
    assert_eq!(seen, [("a".to_string(), "bad address 17".to_string())]);
    assert_eq!((scan.seen, scan.total, scan.complete), (1, 1, true));
    assert!(q.at_work(10).await.unwrap().workers.is_empty());
}
