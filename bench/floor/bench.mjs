// The bare floor: the least Redis work that moves a job's id from a list to
// a claimed zset and back out with its item. No leases, fencing, events,
// stats or retries: whatever thoonk's claim + finish costs above this, per
// job, is the price of those. bench/compare prints it beside thoonk.
//
// node bench.mjs --port P [--jobs N] [--single N] [--concurrency C]
//                [--payload-bytes B] [--batch K]
//
// Same JSON shape as thoonk bench --json, phases publish_single, publish_bulk
// and process (no latency phase: there is no worker to wake).
//   publish: one EVAL per job, LPUSH id + HSET id item (bulk: one EVAL per
//            1,000 jobs, four in flight)
//   claim:   one EVAL, RPOP K ids + ZADD them to claimed + HMGET their items
//   finish:  one EVAL, ZREM K ids from claimed + HDEL their items
// The process phase runs ceil(C / K) claim-then-finish loops side by side,
// K = 7 ids per call, so up to C jobs are claimed at once, as a worker of
// concurrency C. ioredis comes from bench/bullmq's node_modules (npm ci there).
import { createRequire } from 'node:module';
import { options, payloadText, serverFigures, inBatches, measured } from '../common.mjs';

const require = createRequire(new URL('../bullmq/package.json', import.meta.url));
const IORedis = require('ioredis');

const { args, port, jobs, single, concurrency, payloadBytes } = options();
const batch = Number(args.batch ?? 7);
const redis = new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });

redis.defineCommand('publish', {
  numberOfKeys: 2,
  lua: `for i = 1, #ARGV, 2 do
  redis.call('LPUSH', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2`,
});
redis.defineCommand('claim', {
  numberOfKeys: 3,
  lua: `local ids = redis.call('RPOP', KEYS[1], ARGV[1])
if not ids then return {} end
local zadd = {}
for i, id in ipairs(ids) do zadd[2 * i - 1] = ARGV[2]; zadd[2 * i] = id end
redis.call('ZADD', KEYS[2], unpack(zadd))
return {ids, redis.call('HMGET', KEYS[3], unpack(ids))}`,
});
redis.defineCommand('finish', {
  numberOfKeys: 2,
  lua: `redis.call('ZREM', KEYS[1], unpack(ARGV))
return redis.call('HDEL', KEYS[2], unpack(ARGV))`,
});

const payload = (i) => payloadText(i, payloadBytes);
// 26 characters, as long as a ULID.
const id = (i) => `j${String(i).padStart(25, '0')}`;
const keys = (phase) => {
  const base = `bench-floor.${phase}.${process.pid}`;
  return { list: `${base}.waiting`, claimed: `${base}.claimed`, items: `${base}.items` };
};

const figures = serverFigures((section) => redis.info(section));
const { cpu } = figures;

function publishAll(k, n) {
  return inBatches(n, (start, end) => {
    const argv = [];
    for (let i = start; i < end; i++) argv.push(id(i), payload(i));
    return redis.publish(k.list, k.items, ...argv);
  });
}

// Fails loudly unless the phase's keys hold `n` waiting jobs and nothing else.
async function check(k, phase, n) {
  const [w, c, j] = [await redis.llen(k.list), await redis.zcard(k.claimed), await redis.hlen(k.items)];
  if (w !== n || c !== 0 || j !== n) {
    throw new Error(`${phase}: expected ${n} waiting and nothing else; waiting ${w}, claimed ${c}, items ${j}`);
  }
}
const destroy = (k) => redis.del(k.list, k.claimed, k.items);

const results = {};

{ // publish_single: each EVAL awaited before the next
  const k = keys('publish_single');
  results.publish_single = await measured(single, figures, async () => {
    for (let i = 0; i < single; i++) await redis.publish(k.list, k.items, id(i), payload(i));
  });
  await check(k, 'publish_single', single);
  await destroy(k);
}

{ // publish_bulk
  const k = keys('publish_bulk');
  results.publish_bulk = await measured(jobs, figures, () => publishAll(k, jobs), true);
  await check(k, 'publish_bulk', jobs);
  await destroy(k);
}

{ // process: claim K, finish those K, until the list is empty
  const k = keys('process');
  await publishAll(k, jobs);
  await check(k, 'process', jobs);
  let handled = 0;
  const loop = async () => {
    for (;;) {
      const got = await redis.claim(k.list, k.claimed, k.items, batch, Date.now() + 30000);
      if (got.length === 0) return;
      const [ids, items] = got;
      if (items.some((item) => item === null)) throw new Error('process: claimed an id without its item');
      handled += ids.length;
      await redis.finish(k.claimed, k.items, ...ids);
    }
  };
  const c0 = await cpu();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.ceil(concurrency / batch) }, loop));
  const secs = (performance.now() - t0) / 1000;
  results.process = { jobs_per_s: jobs / secs, redis_cpu_us_per_job: ((await cpu()) - c0) * 1e6 / jobs };
  if (handled !== jobs) throw new Error(`process: handled ${handled} of ${jobs}`);
  await check(k, 'process', 0);
  await destroy(k);
}

console.log(JSON.stringify(results));
await redis.quit();
process.exit(0);
