// The `thoonk bench` workload on BullMQ: same phases, same payload, same
// JSON shape, so bench/compare can put the two side by side.
//
// node bench.mjs --port P [--jobs N] [--single N] [--concurrency C]
//                [--latency-jobs N] [--rate R] [--payload-bytes B]
import { Queue, Worker, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';
import { options, payloadText, serverFigures, inBatches, measured, latencyFigures, publishAtRate } from '../common.mjs';

const { port, jobs, single, concurrency, latencyJobs, rate, payloadBytes } = options();
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const admin = new IORedis(connection);
// Like thoonk's finish, a finished job is deleted.
const opts = { removeOnComplete: true };

const payload = (i) => JSON.parse(payloadText(i, payloadBytes));

const figures = serverFigures((section) => admin.info(section));
const { cpu } = figures;

function addAll(queue, n) {
  return inBatches(n, (start, end) => {
    const items = [];
    for (let i = start; i < end; i++) items.push({ name: 'job', data: payload(i), opts });
    return queue.addBulk(items);
  });
}

function fresh(phase) {
  return new Queue(`bench-bullmq.${phase}.${process.pid}`, { connection });
}

async function done(queue) {
  await queue.obliterate({ force: true });
  await queue.close();
}

const results = {};

{ // publish_single
  const q = fresh('publish_single');
  await q.waitUntilReady();
  results.publish_single = await measured(single, figures, async () => {
    for (let i = 0; i < single; i++) await q.add('job', payload(i), opts);
  });
  await done(q);
}

{ // publish_bulk
  const q = fresh('publish_bulk');
  await q.waitUntilReady();
  results.publish_bulk = await measured(jobs, figures, () => addAll(q, jobs), true);
  await done(q);
}

{ // process
  const q = fresh('process');
  await addAll(q, jobs);
  let completed = 0;
  let finished;
  const allDone = new Promise((resolve) => { finished = resolve; });
  const c0 = await cpu();
  const t0 = performance.now();
  const w = new Worker(q.name, async () => 'ok', { connection, concurrency });
  w.on('completed', () => { if (++completed === jobs) finished(); });
  await allDone;
  const secs = (performance.now() - t0) / 1000;
  results.process = { jobs_per_s: jobs / secs, redis_cpu_us_per_job: ((await cpu()) - c0) * 1e6 / jobs };
  await w.close();
  await done(q);
}

{ // latency: from before the add call until the completion event arrives,
  // until the handler starts, and until the add returns (latencyFigures)
  const q = fresh('latency');
  const events = new QueueEvents(q.name, { connection });
  await events.waitUntilReady();
  const started = new Map();
  const samples = [];
  const startSamples = [];
  const publishSamples = [];
  const w = new Worker(q.name, async (job) => {
    const t0 = started.get(job.id);
    if (t0 !== undefined) startSamples.push(performance.now() - t0);
    return 'ok';
  }, { connection, concurrency });
  await w.waitUntilReady();
  let finished;
  const allDone = new Promise((resolve) => { finished = resolve; });
  events.on('completed', ({ jobId }) => {
    const t0 = started.get(jobId);
    if (t0 === undefined) return;
    started.delete(jobId);
    samples.push(performance.now() - t0);
    if (samples.length === latencyJobs) finished();
  });
  await publishAtRate(latencyJobs, rate, (i, id) => q.add('job', payload(i), { ...opts, jobId: id }),
    started, publishSamples);
  await allDone;
  if (startSamples.length !== latencyJobs) throw new Error(`latency: ${startSamples.length} starts timed`);
  results.latency = latencyFigures(samples, startSamples, publishSamples);
  await w.close();
  await events.close();
  await done(q);
}

console.log(JSON.stringify(results));
await admin.quit();
process.exit(0);
