//! The library on a real Redis Cluster (three masters, three replicas, all
//! started here): the core operations, a worker on ten queues spread over
//! the masters, and a master killed in the middle of a run.

mod common;

use common::{blocked_in_blmove, gate, pass, start, ClusterEnv};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thoonk::{Error, EventKind, Failure, Job, Order, Publish, Queue, State, Worker};
use thoonk_testkit::poll::{eventually, eventually_progressing, within, DEADLINE};
use thoonk_testkit::{Connection, Resp};

/// How many times each job ran, by (queue, id).
type Runs = Arc<Mutex<HashMap<(String, String), u32>>>;

/// The publishes acknowledged, as (queue, id).
type Acked = Arc<Mutex<Vec<(String, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_operations_work_on_a_cluster() {
    let env = ClusterEnv::start().await;

    // A name without a {tag} would spread its keys over the slots: refused,
    // with the fix in the message.
    let err = env.thoonk.queue("mail").unwrap_err();
    assert!(matches!(err, Error::Untagged { .. }), "{err:?}");
    assert!(err.to_string().contains("name it \"{mail}\""), "{err}");

    let q = env.queue("{mail}");
    let mut events = q.subscribe().await.unwrap();
    q.publish("one", Publish::new().id("j1")).await.unwrap();
    q.publish_many(["two", "three"]).await.unwrap();
    q.publish(
        "later",
        Publish::new().id("d1").delay(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let first = within("the publish event", events.next()).await.unwrap();
    assert_eq!((first.kind, first.id.as_str()), (EventKind::Publish, "j1"));

    // Every key of the queue on the one master of its slot.
    let home = env.master_of("{mail}");
    let keys = env.keys_on(home);
    for key in [
        "job.ids:{mail}",
        "job.items:{mail}",
        "job.publishes:{mail}",
        "job.delayed:{mail}",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} on {home}: {keys:?}");
    }
    // The cluster client sends a call again when its connection drops, so
    // each call that wrote keeps its reply a while, in the queue's slot,
    // for a second run (see `_once.lua`): here the three publish calls.
    let requests = keys
        .iter()
        .filter(|k| k.starts_with("job.request:{mail}\0"))
        .count();
    assert_eq!(requests, 3, "{keys:?}");
    for master in env.cluster.masters().unwrap() {
        if master.port != home {
            assert!(
                env.keys_on(master.port).is_empty(),
                "keys on {}",
                master.port
            );
        }
    }

    let stats = q.stats().await.unwrap();
    assert_eq!((stats.available, stats.delayed, stats.publishes), (3, 1, 4));
    let claimed = q.claim(3).await.unwrap();
    assert_eq!(claimed[0].id, "j1");
    assert_eq!(&*claimed[0].queue, "{mail}");
    q.finish_with(&claimed[0], "done").await.unwrap();
    q.cancel(&claimed[1]).await.unwrap();
    q.stall(&claimed[2]).await.unwrap();
    assert_eq!(q.list(State::Stalled, 0, 10).await.unwrap().len(), 1);
    q.retry(&claimed[2].id).await.unwrap();
    // A stale token is refused, naming the state the job is in.
    let err = q.finish(&claimed[1]).await.unwrap_err();
    assert!(matches!(err, Error::StaleClaim { .. }), "{err:?}");
    q.retract(&claimed[1].id).await.unwrap();

    // The delayed job falls due and is claimed; a blocking get waits for it.
    let due = within("the delayed job", q.get(DEADLINE)).await.unwrap();
    let due = match due {
        Some(job) if job.id == "d1" => job,
        Some(other) => {
            q.finish(&other).await.unwrap();
            within("the delayed job", q.get(DEADLINE))
                .await
                .unwrap()
                .unwrap()
        }
        None => panic!("nothing to claim"),
    };
    q.finish(&due).await.unwrap();

    // A worker, and a publisher waiting for the result through the events.
    let worker = start(
        Worker::new(q.clone()).concurrency(4),
        |job: Job| async move {
            Ok::<_, Failure>(format!("did {}", String::from_utf8_lossy(&job.item)))
        },
    );
    let result = q
        .publish_and_wait("this", Publish::new(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(result.as_deref(), Some(&b"did this"[..]));
    worker.stop().await;
    let stats = q.stats().await.unwrap();
    assert_eq!(
        (stats.available, stats.claimed, stats.stalled, stats.delayed),
        (0, 0, 0, 0),
        "{stats:?}"
    );

    // A durable publish: both replicas of... the master's one replica has it.
    q.publish("safe", Publish::new().replicas(1, DEADLINE))
        .await
        .unwrap();

    q.destroy().await.unwrap();
    assert!(env.keys_on(home).iter().all(|k| !k.ends_with(":{mail}")));
}

/// Handles jobs by counting them per (queue, id).
fn counting(
    runs: Runs,
) -> impl Fn(Job) -> std::future::Ready<Result<&'static str, Failure>> + Send + Sync + 'static {
    move |job: Job| {
        *runs
            .lock()
            .unwrap()
            .entry((job.queue.to_string(), job.id))
            .or_default() += 1;
        std::future::ready(Ok("ok"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_queues_spread_over_the_masters_and_every_job_runs_once() {
    let env = ClusterEnv::start().await;
    let names: Vec<String> = (0..10).map(|i| format!("{{q{i}}}")).collect();
    let masters: HashSet<u16> = names.iter().map(|n| env.master_of(n)).collect();
    assert_eq!(masters.len(), 3, "the ten queues sit on all three masters");

    let queues: Vec<Queue> = names.iter().map(|n| env.queue(n)).collect();
    let mut published = HashSet::new();
    for q in &queues {
        let items: Vec<String> = (0..1_000).map(|n| format!("job {n}")).collect();
        for id in q.publish_many(items).await.unwrap() {
            published.insert((q.name().to_string(), id));
        }
    }
    assert_eq!(published.len(), 10_000);

    // Two workers (as two processes would: each its own client), each on
    // all ten queues.
    let runs: Runs = Arc::default();
    let mut workers = Vec::new();
    for order in [Order::Strict, Order::Weighted(vec![1; 10])] {
        let client = env.client().await;
        let mine = names.iter().map(|n| client.queue(n).unwrap()).collect();
        let worker = Worker::serving(mine, order).unwrap().concurrency(25);
        workers.push(start(worker, counting(runs.clone())));
    }
    // Bulk work: seconds alone, many more on a loaded machine, so bounded
    // only while no job finishes.
    eventually_progressing(
        "all 10,000 jobs finished",
        || async {
            let mut finished = 0;
            for q in &queues {
                finished += q.stats().await.unwrap().finishes;
            }
            finished
        },
        |&finished| finished == 10_000,
    )
    .await;
    let mut done = 0;
    for worker in workers {
        done += worker.stop().await.finished;
    }
    assert_eq!(done, 10_000);
    {
        let runs = runs.lock().unwrap();
        let ran: HashSet<(String, String)> = runs.keys().cloned().collect();
        assert_eq!(ran, published, "every job ran");
        let twice: Vec<_> = runs.iter().filter(|(_, &n)| n > 1).collect();
        assert!(twice.is_empty(), "ran more than once: {twice:?}");
    }
    for q in &queues {
        let s = q.stats().await.unwrap();
        assert_eq!(
            (s.available, s.claimed, s.stalled, s.delayed),
            (0, 0, 0, 0),
            "{s:?}"
        );
    }
}

/// Publishes to `queue` until `stop`, one job at a time, recording the ids
/// of the publishes acknowledged; errors (the master is gone, the cluster
/// is electing) are counted and the publisher carries on.
async fn keep_publishing(
    queue: Queue,
    replicas: bool,
    acked: Acked,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> u64 {
    let mut errors = 0;
    let mut n = 0u64;
    while !*stop.borrow() {
        n += 1;
        let mut options = Publish::new().id(format!("{}-{n}", if replicas { "r" } else { "p" }));
        if replicas {
            options = options.replicas(1, Duration::from_secs(1));
        }
        tokio::select! {
            r = queue.publish(format!("job {n}"), options) => match r {
                Ok(id) => acked.lock().unwrap().push((queue.name().to_string(), id)),
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = stop.changed() => {}
        }
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_run_loses_no_replicated_publish() {
    let mut env = ClusterEnv::start().await;
    // Three queues, one per master; the first on the master of the first
    // seed, where the clients' event connections are: they must move.
    let first_seed = env.cluster.ports()[0];
    let mut names: Vec<String> = Vec::new();
    let mut homes = HashSet::new();
    for i in 0.. {
        let name = format!("{{f{i}}}");
        let home = env.master_of(&name);
        if (names.is_empty() && home != first_seed) || !homes.insert(home) {
            continue;
        }
        names.push(name);
        if names.len() == 3 {
            break;
        }
    }
    let queues: Vec<Queue> = names.iter().map(|n| env.queue(n)).collect();
    for q in &queues {
        // Short leases: a claim the dead master's replica never saw
        // end comes back in seconds, not 30.
        q.set_lease(Duration::from_secs(2)).await.unwrap();
    }

    // How many jobs the worker holds at once; it bounds the jobs run twice
    // (below).
    const CONCURRENCY: usize = 10;
    let runs: Runs = Arc::default();
    let worker_client = env.client().await;
    let mine = names
        .iter()
        .map(|n| worker_client.queue(n).unwrap())
        .collect();
    let worker = start(
        Worker::serving(mine, Order::Strict)
            .unwrap()
            .concurrency(CONCURRENCY),
        counting(runs.clone()),
    );

    // On each queue, one publisher that asks for a replica and one that
    // does not.
    let (stop_publishing, stop) = tokio::sync::watch::channel(false);
    let replicated: Acked = Arc::default();
    let plain: Acked = Arc::default();
    let mut publishers = Vec::new();
    for q in &queues {
        for (replicas, acked) in [(true, &replicated), (false, &plain)] {
            let task = keep_publishing(q.clone(), replicas, acked.clone(), stop.clone());
            publishers.push(tokio::spawn(task));
        }
    }
    // Each publish waits for a replica: hundreds of them take a while on a
    // loaded machine, so the waits below are bounded only while none is
    // acknowledged.
    let acked = |list: &Acked| list.lock().unwrap().len();
    eventually_progressing(
        "300 replicated publishes before the kill",
        || async { acked(&replicated) },
        |&n| n >= 300,
    )
    .await;

    // kill -9 the master of the first queue, mid-run.
    let victim = env.master_of(&names[0]);
    env.cluster.kill(victim).unwrap();
    let killed_at = std::time::Instant::now();
    let before = (acked(&replicated), acked(&plain));
    tokio::task::block_in_place(|| env.cluster.wait_for_failover(DEADLINE)).unwrap();
    let failover = killed_at.elapsed();
    assert_ne!(env.master_of(&names[0]), victim, "a replica took over");

    // Publishers and the worker carry on, on the new master too.
    let target = acked(&replicated) + 300;
    eventually_progressing(
        "300 more replicated publishes after the failover",
        || async { acked(&replicated) },
        |&n| n >= target,
    )
    .await;
    // A publisher awaiting a result through the events, on the queue of the
    // dead master: the event connection moved to a live node.
    let result = env
        .queue(&names[0])
        .publish_and_wait("after", Publish::new(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(result.as_deref(), Some(&b"ok"[..]));
    stop_publishing.send(true).unwrap();
    let mut errors = 0;
    for p in publishers {
        errors += within("a publisher", p).await.unwrap();
    }
    let replicated = replicated.lock().unwrap().clone();
    let plain = plain.lock().unwrap().clone();

    // Every replicated publish runs; the plain ones that were lost, counted.
    eventually_progressing(
        "every replicated publish done",
        || async {
            let runs = runs.lock().unwrap();
            replicated
                .iter()
                .filter(|job| runs.contains_key(*job))
                .count()
        },
        |&done| done == replicated.len(),
    )
    .await;
    eventually_progressing(
        "the queues drained",
        || async {
            let mut busy = 0;
            for q in &queues {
                if let Ok(s) = q.stats().await {
                    busy += s.available + s.claimed + s.delayed;
                } else {
                    busy += 1;
                }
            }
            busy
        },
        |&busy| busy == 0,
    )
    .await;
    worker.stop().await;
    let runs = runs.lock().unwrap();
    let lost = plain.iter().filter(|job| !runs.contains_key(job)).count();
    let twice = runs.values().filter(|&&n| n > 1).count();
    eprintln!(
        "failover: master killed after {} replicated + {} plain publishes; \
         all slots served again after {failover:?}; {} replicated and {} plain \
         publishes acknowledged in all, {errors} publishes failed (reported to the caller); \
         lost: 0 replicated, {} plain; jobs run twice: {twice}",
        before.0,
        before.1,
        replicated.len(),
        plain.len(),
        lost
    );
    // A job runs twice only when the dead master took a claim or a finish
    // of it along, unreplicated: a finish the replica never saw leaves the
    // job claimed there, a claim it never saw leaves the job available, and
    // either way it runs again. Those are at most the jobs the worker held
    // at the kill plus those whose finish the replica had not yet seen:
    // each at most the worker's concurrency.
    assert!(
        twice <= 2 * CONCURRENCY,
        "{twice} jobs ran twice, more than the {} a master lost \
         with its unreplicated claims and finishes could explain",
        2 * CONCURRENCY
    );
}

/// The server time of the node on `port`, in Unix ms.
fn server_ms(env: &ClusterEnv, port: u16) -> u64 {
    let time = env.cluster.command(port, &["TIME"]).and_then(Resp::strings);
    let time = time.unwrap_or_else(|e| panic!("TIME on {port}: {e}"));
    let secs: u64 = time[0].parse().expect("TIME's seconds");
    let micros: u64 = time[1].parse().expect("TIME's microseconds");
    secs * 1000 + micros / 1000
}

/// One field of queue `name`'s `job.pulse` hash on the node at `port`.
fn pulse(env: &ClusterEnv, port: u16, name: &str, field: &str) -> Option<u64> {
    let key = format!("job.pulse:{name}");
    let value = env.cluster.command(port, &["HGET", key.as_str(), field]);
    let value = value.and_then(Resp::bulk).expect("HGET job.pulse");
    value.map(|v| {
        String::from_utf8_lossy(&v)
            .parse()
            .expect("a time in job.pulse")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_sends_back_no_running_job() {
    let mut env = ClusterEnv::start().await;
    let name = "{held}";
    let q = env.queue(name);

    // Two workers (two processes: each its own client), three jobs each,
    // every handler held at the gate until the test opens it.
    let runs: Runs = Arc::default();
    let (open, closed) = gate();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let client = env.client().await;
        let worker = Worker::new(client.queue(name).unwrap()).concurrency(3);
        let (runs, closed) = (runs.clone(), closed.clone());
        workers.push(start(worker, move |job: Job| {
            *runs
                .lock()
                .unwrap()
                .entry((job.queue.to_string(), job.id))
                .or_default() += 1;
            let closed = closed.clone();
            async move {
                pass(&closed).await;
                Ok::<_, Failure>("ok")
            }
        }));
    }
    let ids = q
        .publish_many((0..6).map(|n| format!("job {n}")))
        .await
        .unwrap();
    eventually("all six jobs running", || async {
        runs.lock().unwrap().len() == 6
    })
    .await;

    // The claims reached the replica: WAIT waits for the writes of its own
    // connection, so one write first, on the master, after the claims (the
    // replication stream is in order); no timeout of its own (0), the
    // connection's read timeout bounds a hang.
    let master = env.master_of(name);
    let acked = tokio::task::block_in_place(|| {
        let mut conn = Connection::connect(master)?;
        let marker = format!("test.replicated:{name}");
        conn.command(&["SET", marker.as_str(), "1"])?
            .into_result()?;
        conn.command(&["WAIT", "1", "0"])?.int()
    })
    .unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the claims");

    // The master hangs, then dies (kill -9) while the six jobs run. An
    // election takes a few node timeouts (1 s each here), about as long as
    // a liveness mark lasts (3 s): the hang makes sure that the workers'
    // marks run out during the outage, however fast the election. It takes
    // no more writes (the heartbeats wait) until the server's clock is past
    // the last of the marks, which the replica has too (or older ones).
    let paused = env
        .cluster
        .command(master, &["CLIENT", "PAUSE", "600000", "WRITE"])
        .and_then(Resp::into_result)
        .unwrap();
    assert_eq!(paused, Resp::simple("OK"));
    let workers_key = format!("job.workers:{name}");
    let marks = env
        .cluster
        .command(
            master,
            &["ZRANGE", workers_key.as_str(), "0", "-1", "WITHSCORES"],
        )
        .and_then(Resp::strings)
        .unwrap();
    let last_mark: u64 = marks
        .iter()
        .skip(1)
        .step_by(2)
        .map(|deadline| deadline.parse().expect("a mark's deadline"))
        .max()
        .expect("the workers' liveness marks");
    eventually("the workers' liveness marks run out", || async {
        server_ms(&env, master) > last_mark
    })
    .await;
    env.cluster.kill(master).unwrap();
    let killed_at = std::time::Instant::now();
    tokio::task::block_in_place(|| env.cluster.wait_for_failover(DEADLINE)).unwrap();
    let failover = killed_at.elapsed();
    let home = env.master_of(name);
    assert_ne!(home, master, "a replica took over");
    eprintln!("failover: all slots served again {failover:?} after the kill");

    // The test's client sent nothing to the slot since the kill: its calls
    // below must find the new master by themselves. (`stats` was a
    // MULTI/EXEC, which came back aborted with a MOVED per command and
    // taught the client nothing: it failed for a minute and more. Now a
    // script, whose MOVED the client follows.)
    let counts = q
        .stats()
        .await
        .expect("the counts, first after the failover");
    assert_eq!(counts.claimed, 6, "{counts:?}");

    // The jobs stay held while recovery passes run on the new master: the
    // test's own from the first moment, as a dashboard's or an idle
    // worker's would (a worker's own heartbeat renews its mark before its
    // recovery pass, so two workers back at about the same time seldom
    // catch each other), and the workers' with their heartbeats. Until a
    // heartbeat reached it, both workers renewed their marks there, and its
    // clock went past the grace (3 s) after the silence, with a second to
    // spare.
    let failed_over_ms = server_ms(&env, home);
    let taken_back = AtomicU64::new(0);
    eventually(
        "both workers' heartbeats on the new master, and 4 s of its time since the failover",
        || async {
            if let Ok(r) = q.recover().await {
                taken_back.fetch_add(r.requeued + r.stalled, Ordering::SeqCst);
            }
            pulse(&env, home, name, "beat").is_some_and(|beat| beat > failed_over_ms)
                && q.workers().await.is_ok_and(|alive| alive.len() == 2)
                && server_ms(&env, home) >= failed_over_ms + 4_000
        },
    )
    .await;
    eprintln!(
        "after the failover: grace noted until {:?} (the failover done at \
         {failed_over_ms}); the test's recovery passes took back {} jobs",
        pulse(&env, home, name, "grace"),
        taken_back.into_inner()
    );

    open.send(true).unwrap();
    eventually_progressing(
        "the six jobs finished",
        || async {
            q.stats()
                .await
                .map(|s| s.finishes)
                .map_err(|e| e.to_string())
        },
        |finishes| *finishes == Ok(6),
    )
    .await;
    for worker in workers {
        worker.stop().await;
    }
    let stats = q.stats().await.unwrap();
    let runs = runs.lock().unwrap().clone();
    let once: HashMap<(String, String), u32> = ids
        .into_iter()
        .map(|id| ((name.to_string(), id), 1))
        .collect();
    assert_eq!(runs, once, "every job ran exactly once; {stats:?}");
    assert_eq!(
        (stats.cancels, stats.recoveries),
        (0, 0),
        "nothing taken back: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_keeps_working_while_its_slot_moves_to_another_master() {
    let env = ClusterEnv::start().await;
    let (busy, idle) = (env.queue("{moving}"), env.queue("{idle}"));
    let runs: Runs = Arc::default();
    let worker = start(
        Worker::new(busy.clone()).concurrency(8),
        counting(runs.clone()),
    );
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = tokio::spawn({
        let (busy, published) = (busy.clone(), published.clone());
        async move {
            let mut ids = Vec::new();
            for n in 0..2_000 {
                ids.push(
                    busy.publish(format!("job {n}"), Publish::new())
                        .await
                        .unwrap(),
                );
                published.fetch_add(1, Ordering::SeqCst);
            }
            ids
        }
    });
    // Thousands of jobs, one round trip each: the waits on them are
    // bounded only while none moves on, however loaded the machine.
    eventually_progressing(
        "the run under way",
        || async { runs.lock().unwrap().len() },
        |&n| n >= 300,
    )
    .await;

    // A claim blocked on an empty queue whose slot is about to move. It
    // blocks only now, for a blocked get gives up after 30 s, and the run
    // above may take longer on a loaded machine.
    let waiting = tokio::spawn({
        let idle = idle.clone();
        async move { idle.get(DEADLINE).await }
    });
    let idle_home = env.master_of("{idle}");
    eventually("the claim blocked on the idle queue's master", || async {
        let clients = env.cluster.command(idle_home, &["CLIENT", "LIST"]);
        blocked_in_blmove(&clients.and_then(Resp::text).expect("CLIENT LIST")) == 1
    })
    .await;

    // Move both queues' slots to another master, while all this goes on.
    for name in ["{moving}", "{idle}"] {
        let slot = env.cluster.slot_of(&format!("job.ids:{name}")).unwrap();
        let from = env.master_of(name);
        let to = env
            .cluster
            .masters()
            .unwrap()
            .into_iter()
            .find(|m| m.port != from)
            .unwrap()
            .port;
        tokio::task::block_in_place(|| env.cluster.move_slot(slot, to)).unwrap();
        assert_eq!(env.master_of(name), to);
    }

    idle.publish("wake", Publish::new().id("w")).await.unwrap();
    let woken = within("the blocked claim", waiting).await.unwrap().unwrap();
    assert_eq!(
        woken.map(|j| j.id).as_deref(),
        Some("w"),
        "the blocked claim followed its slot"
    );
    eventually_progressing(
        "every job published",
        || async { published.load(Ordering::SeqCst) },
        |&n| n == 2_000,
    )
    .await;
    let ids = within("the publisher", publisher).await.unwrap();
    eventually_progressing(
        "every job finished",
        || async { busy.stats().await.unwrap().finishes },
        |&n| n == 2_000,
    )
    .await;
    worker.stop().await;
    let runs = runs.lock().unwrap();
    assert!(ids
        .iter()
        .all(|id| runs.contains_key(&("{moving}".to_string(), id.clone()))));
    // The keys live on the new master only.
    let home = env.master_of("{moving}");
    assert!(env
        .keys_on(home)
        .iter()
        .any(|k| k == "job.finishes:{moving}"));
}
