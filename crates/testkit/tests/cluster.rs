//! The private Redis Cluster: it forms with three masters and three replicas,
//! routes keys, and a replica takes over a killed master with its data.

use std::time::{Duration, Instant};
use thoonk_testkit::PrivateCluster;

#[test]
fn forms_three_masters_with_a_replica_each() {
    let started = Instant::now();
    let cluster = PrivateCluster::start().unwrap();
    eprintln!("cluster formed in {:?}", started.elapsed());

    let nodes = cluster.nodes().unwrap();
    assert_eq!(nodes.len(), 6);
    let masters = cluster.masters().unwrap();
    assert_eq!(masters.len(), 3);
    for master in &masters {
        let replicas: Vec<_> = nodes
            .iter()
            .filter(|n| n.master_id.as_deref() == Some(master.id.as_str()))
            .collect();
        assert_eq!(replicas.len(), 1, "replicas of {master:?}");
        assert!(!replicas[0].is_master());
    }
    let mut ports = cluster.ports();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 6);
    assert!(ports.iter().all(|&p| p != 6379 && p <= 55535));
    assert!(cluster
        .urls()
        .iter()
        .all(|u| u.starts_with("redis://127.0.0.1:")));
    // Only our own nodes are ever talked to.
    assert!(cluster.command(6379, &["PING"]).is_err());

    // Set and get through redis-cli -c, which follows the MOVED redirects.
    for i in 0..10 {
        let key = format!("key-{i}");
        let value = format!("value {i}");
        assert_eq!(
            cluster.cluster_commands(&[&["SET", &key, &value]]).unwrap(),
            "OK"
        );
        assert_eq!(cluster.cluster_commands(&[&["GET", &key]]).unwrap(), value);
        // And the node that serves the key has it itself.
        let owner = cluster.node_for_key(&key).unwrap();
        assert_eq!(
            cluster
                .command(owner.port, &["GET", &key])
                .unwrap()
                .text()
                .unwrap(),
            value
        );
    }
}

#[test]
fn replica_takes_over_a_killed_master() {
    let mut cluster = PrivateCluster::start().unwrap();
    let master = cluster.node_for_key("survivor").unwrap();
    let replica = cluster
        .nodes()
        .unwrap()
        .into_iter()
        .find(|n| n.master_id.as_deref() == Some(master.id.as_str()))
        .unwrap();
    // WAIT on the same connection as the SET: the replica has the key
    // before the master dies.
    let replies = cluster
        .cluster_commands(&[&["SET", "survivor", "still here"], &["WAIT", "1", "1000"]])
        .unwrap();
    assert_eq!(replies, "OK\n1");

    assert!(cluster.pid(master.port).is_some());
    cluster.kill(master.port).unwrap();
    assert_eq!(cluster.pid(master.port), None);
    let killed = Instant::now();
    cluster.wait_for_failover(Duration::from_secs(30)).unwrap();
    eprintln!("failover took {:?}", killed.elapsed());

    let masters = cluster.masters().unwrap();
    assert_eq!(masters.len(), 3);
    assert!(masters.iter().all(|m| m.port != master.port));
    assert!(masters.iter().any(|m| m.id == replica.id), "{masters:?}");
    assert_eq!(cluster.node_for_key("survivor").unwrap().port, replica.port);
    assert_eq!(
        cluster.cluster_commands(&[&["GET", "survivor"]]).unwrap(),
        "still here"
    );
}
