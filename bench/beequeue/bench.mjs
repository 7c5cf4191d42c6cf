// The `thoonk bench` workload on bee-queue 2.0: same phases, same payload,
// same JSON shape as bullmq/bench.mjs, so bench/compare can put thoonk,
// bee-queue and BullMQ side by side on one Redis.
//
// node bench.mjs --port P [--jobs N] [--single N] [--concurrency C]
//                [--latency-jobs N] [--rate R] [--payload-bytes B]
//
// Producers are non-worker queues that keep no job objects (storeJobs off);
// the worker removes a job when it succeeds (removeOnSuccess), like thoonk's
// finish deletes it. bee-queue's other defaults stay (it publishes a job
// event on each finish, as thoonk does). Each phase checks that it did what
// it claims: every job handled exactly once, the queue's keys empty after.
import Queue from 'bee-queue';
import { options, payloadText, serverFigures, inBatches, measured, latencyFigures, publishAtRate } from '../common.mjs';

const { port, jobs, single, concurrency, latencyJobs, rate, payloadBytes } = options();
const redis = { host: '127.0.0.1', port };

const payload = (i) => JSON.parse(payloadText(i, payloadBytes));

const name = (phase) => `bench-bee.${phase}.${process.pid}`;
const producer = (phase, getEvents = false) =>
  new Queue(name(phase), { redis, isWorker: false, getEvents, storeJobs: false });
const worker = (phase) =>
  new Queue(name(phase), { redis, getEvents: false, storeJobs: false, removeOnSuccess: true });

// Commands outside bee-queue (INFO, key checks) go through this queue's client.
const admin = new Queue('bench-bee.admin', { redis, isWorker: false, getEvents: false });
await admin.ready();
const call = (cmd, ...a) =>
  new Promise((resolve, reject) => admin.client[cmd](...a, (e, r) => (e ? reject(e) : resolve(r))));

const figures = serverFigures((section) => call('info', section));
const { cpu } = figures;

// saveAll in batches of 1,000, four in flight, as bullmq/bench.mjs's addBulk.
function saveAll(queue, n) {
  return inBatches(n, (start, end) => {
    const items = [];
    for (let i = start; i < end; i++) items.push(queue.createJob(payload(i)));
    return queue.saveAll(items).then((errors) => {
      if (errors.size) throw new Error(`saveAll: ${errors.size} jobs failed`);
    });
  });
}

// Fails loudly unless the queue holds `waiting` waiting jobs and nothing else.
async function check(queue, phase, waiting) {
  const k = (key) => queue.toKey(key);
  const [w, a, j, s] = [await call('llen', k('waiting')), await call('llen', k('active')),
    await call('hlen', k('jobs')), await call('scard', k('succeeded'))];
  if (w !== waiting || a !== 0 || j !== waiting || s !== 0) {
    throw new Error(`${phase}: expected ${waiting} waiting jobs and nothing else; ` +
      `waiting ${w}, active ${a}, stored ${j}, succeeded ${s}`);
  }
}

// Runs a worker on `phase` until it has handled `n` jobs; calls onStart(job)
// as each handler starts. Resolves once every one has succeeded.
async function work(phase, n, onStart = () => {}) {
  const w = worker(phase);
  const seen = new Set();
  let succeeded = 0;
  let finished;
  const allDone = new Promise((resolve) => { finished = resolve; });
  w.on('succeeded', () => { if (++succeeded === n) finished(); });
  w.on('error', (e) => { console.error(`${phase} worker:`, e); process.exit(1); });
  w.process(concurrency, async (job) => {
    onStart(job);
    if (seen.has(job.id)) throw new Error(`${phase}: job ${job.id} handled twice`);
    seen.add(job.id);
    return 'ok';
  });
  await w.ready();
  return { w, allDone };
}

const results = {};

{ // publish_single: each save awaited before the next
  const q = producer('publish_single');
  await q.ready();
  results.publish_single = await measured(single, figures, async () => {
    for (let i = 0; i < single; i++) await q.createJob(payload(i)).save();
  });
  await check(q, 'publish_single', single);
  await q.destroy();
  await q.close();
}

{ // publish_bulk: memory per queued job is used_memory's growth over it
  const q = producer('publish_bulk');
  await q.ready();
  results.publish_bulk = await measured(jobs, figures, () => saveAll(q, jobs), true);
  await check(q, 'publish_bulk', jobs);
  await q.destroy();
  await q.close();
}

{ // process: all jobs queued first, then one worker, concurrency C, no-op handler
  const q = producer('process');
  await q.ready();
  await saveAll(q, jobs);
  await check(q, 'process', jobs);
  const c0 = await cpu();
  const t0 = performance.now();
  const { w, allDone } = await work('process', jobs);
  await allDone;
  const secs = (performance.now() - t0) / 1000;
  results.process = { jobs_per_s: jobs / secs, redis_cpu_us_per_job: ((await cpu()) - c0) * 1e6 / jobs };
  await w.close();
  await check(q, 'process', 0);
  await q.destroy();
  await q.close();
}

{ // latency: publish at R jobs/s to a running worker; each job's time from
  // before its save call until its succeeded event reaches the publisher,
  // until its handler starts, and until the save returns (latencyFigures).
  const q = producer('latency', true);
  await q.ready();
  const published = new Map();
  const startSamples = [];
  const finishSamples = [];
  const publishSamples = [];
  const { w, allDone } = await work('latency', latencyJobs, (job) => {
    const t0 = published.get(job.id);
    if (t0 !== undefined) startSamples.push(performance.now() - t0);
  });
  let finished;
  const allSeen = new Promise((resolve) => { finished = resolve; });
  q.on('job succeeded', (id) => {
    const t0 = published.get(id);
    if (t0 === undefined) return;
    finishSamples.push(performance.now() - t0);
    if (finishSamples.length === latencyJobs) finished();
  });
  await publishAtRate(latencyJobs, rate, (i, id) => q.createJob(payload(i)).setId(id).save(),
    published, publishSamples);
  await allDone;
  await allSeen;
  if (startSamples.length !== latencyJobs) throw new Error(`latency: ${startSamples.length} starts timed`);
  results.latency = latencyFigures(finishSamples, startSamples, publishSamples);
  await w.close();
  await check(q, 'latency', 0);
  await q.destroy();
  await q.close();
}

console.log(JSON.stringify(results));
await admin.close();
process.exit(0);
