// What the Node.js benches (bullmq/, beequeue/, floor/) share, so that each
// runs `thoonk bench`'s workload the same way: its options, its payload,
// Redis's CPU and memory as INFO gives them, bulk publishing in batches,
// and latency percentiles. No dependencies: each bench brings its client.

// The options, as `thoonk bench` names them and with its defaults.
export function options(argv = process.argv.slice(2)) {
  const args = Object.fromEntries(
    argv.reduce((pairs, a, i, all) => {
      if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1]]);
      return pairs;
    }, []),
  );
  return {
    args,
    port: Number(args.port),
    jobs: Number(args.jobs ?? 50000),
    single: Number(args.single ?? 20000),
    concurrency: Number(args.concurrency ?? 50),
    latencyJobs: Number(args['latency-jobs'] ?? 5000),
    rate: Number(args.rate ?? 1000),
    payloadBytes: Number(args['payload-bytes'] ?? 95),
  };
}

// Job i's payload as JSON text of about `bytes` bytes, as thoonk bench's.
export function payloadText(i, bytes) {
  const head = `{"n":${i},"pad":"`;
  return head + 'x'.repeat(Math.max(0, bytes - head.length - 2)) + '"}';
}

// Redis's CPU seconds (user + sys) and used memory, from `info(section)`,
// a function that answers INFO's text through the bench's own client.
export function serverFigures(info) {
  const field = async (name, section) => {
    const line = (await info(section)).split('\r\n').find((l) => l.startsWith(name + ':'));
    return Number(line.split(':')[1]);
  };
  return {
    cpu: async () => (await field('used_cpu_user', 'cpu')) + (await field('used_cpu_sys', 'cpu')),
    memory: () => field('used_memory', 'memory'),
  };
}

// Runs `run` (the work of n jobs) and gives its jobs per second and
// Redis's CPU per job, from `figures` (serverFigures'), and with
// `withMemory` used_memory's growth per job.
export async function measured(n, figures, run, withMemory = false) {
  const m0 = withMemory ? await figures.memory() : 0;
  const c0 = await figures.cpu();
  const t0 = performance.now();
  await run();
  const secs = (performance.now() - t0) / 1000;
  const out = { jobs_per_s: n / secs, redis_cpu_us_per_job: ((await figures.cpu()) - c0) * 1e6 / n };
  if (withMemory) out.bytes_per_job = ((await figures.memory()) - m0) / n;
  return out;
}

// Publishes jobs 0 .. n-1 a batch of 1,000 at a time, four batches in
// flight: `send(start, end)` publishes jobs start .. end-1.
export async function inBatches(n, send) {
  const batch = 1000;
  const inFlight = 4;
  for (let start = 0; start < n; ) {
    const calls = [];
    for (let k = 0; k < inFlight && start < n; k++) {
      const end = Math.min(start + batch, n);
      calls.push(send(start, end));
      start = end;
    }
    await Promise.all(calls);
  }
}

// p50, p99 and max of `samples` (ms), sorted in place.
function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (p) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))];
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: samples[samples.length - 1] };
}

// The latency phase's publisher: `n` jobs at `rate` a second, with ids
// l0, l1, …, each by `publish(i, id)` awaited before the next; notes when
// each call started in `published` (id -> ms) and how long it took in
// `took`.
export async function publishAtRate(n, rate, publish, published, took) {
  const period = 1000 / rate;
  const begin = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = begin + i * period - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `l${i}`;
    const t0 = performance.now();
    published.set(id, t0);
    await publish(i, id);
    took.push(performance.now() - t0);
  }
}

// The latency phase's figures, as thoonk bench --json gives them, each
// from before the publish call: p50/p99/max until the finish event
// arrives, start_* until the handler starts, publish_p50_ms until the
// publish call returns. Where a job's time goes, hop by hop.
export function latencyFigures(finish, start, publish) {
  const s = percentiles(start);
  return {
    ...percentiles(finish),
    start_p50_ms: s.p50_ms,
    start_p99_ms: s.p99_ms,
    publish_p50_ms: percentiles(publish).p50_ms,
  };
}
