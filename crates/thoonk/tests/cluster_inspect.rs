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
