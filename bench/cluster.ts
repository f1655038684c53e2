/**
 * npm run bench -- cluster [--workers 1,2,3] [--sessions 6] [--steps 60] [--edits 6] [--pace 1.5] [--live 3]
 *                          [--size 128] [--depth 2] [--filters 8]
 * The Redis + BullMQ cluster (issue 20) on this machine: a real redis-server, a front daemon and 1, 2, 3 compute
 * workers (each `--tf-threads 1,1`) sharing one store. For each worker count:
 *  - jobs per minute: --sessions sessions each start model.train {steps} at once; wall time until every job ends;
 *  - edit -> refreshed view: --live sessions in live mode with a view; each sends --edits label updates --pace s
 *    apart; latency from the labels.update answer to the first prediction.updated whose generation includes it.
 * Then the queue's overhead for one session: the same train job and 10 predictions on an embedded daemon
 * (`sparsecell serve`, one compute thread) and on a front daemon with one worker.
 * Synthetic blob images (scripts/synthetic.ts), tiny U-Nets: a measure of the scheduling, not of model quality.
 * The gain from more workers is bounded by the machine's cores (this development machine has 2).
 */
import { SparsecellClient } from '../clients/typescript/src/client.js';
import type { EventParams } from '../protocol/src/progress.js';
import { makeBlobs, sparsify } from '../scripts/synthetic.js';
import { cleanup, spawnFront, spawnWorker, startRedis, stopProc, tempDir, type TestWorker } from '../scripts/cluster-procs.js';
import { encodeNdArray, type TypedArray } from '../protocol/src/ndarray.js';
import { flag, log, spawnDaemon, stats } from './helpers.js';

type Pred = Extract<EventParams, { type: 'prediction.updated' }>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nd = (data: TypedArray, shape: number[]) => encodeNdArray(data, shape);
const u8 = (data: Float32Array) => Uint8Array.from(data, (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
/** Workers as `sparsecell worker` runs by default (the tests' short locks and slices off). */
const DEFAULT_WORKER_ENV = { SPARSECELL_LOCK_MS: '', SPARSECELL_STALLED_MS: '', SPARSECELL_SLICE_MS: '' };

interface Shape {
  size: number;
  config: { unetDepth: number; unetFilters: number };
  options: { patchSize: number; batchSize: number };
}

async function session(url: string, seed: number, sh: Shape): Promise<{ c: SparsecellClient; sessionId: string }> {
  const c = await SparsecellClient.connect(url);
  const blobs = makeBlobs({ height: sh.size, width: sh.size, count: Math.round((sh.size * sh.size) / 700), seed });
  const { sessionId } = await c.call('session.create', { name: `bench${seed}`, config: sh.config });
  await c.call('image.add', { sessionId, image: nd(u8(blobs.image.data), [sh.size, sh.size]) });
  await c.call('labels.update', {
    sessionId,
    imageId: 'img1',
    labels: nd(sparsify(blobs.labels, (id) => id % 2 === 1).data, [sh.size, sh.size]),
    encoding: 'signed',
  });
  return { c, sessionId };
}

/** n sessions train `steps` steps at once: wall time until all end. */
async function throughput(
  url: string,
  n: number,
  steps: number,
  sh: Shape,
  seed0: number,
): Promise<{ jobs: number; wallS: number; jobsPerMin: number; stepsPerS: number }> {
  const ss = await Promise.all(Array.from({ length: n }, (_, i) => session(url, seed0 + i, sh)));
  const t0 = Date.now();
  const jobs = await Promise.all(ss.map((s) => s.c.call('model.train', { sessionId: s.sessionId, steps, options: sh.options })));
  const ends = await Promise.all(ss.map((s, i) => s.c.waitForProgressEnd(jobs[i].jobId, 1_800_000)));
  const wallS = (Date.now() - t0) / 1000;
  if (ends.some((e) => e.state !== 'done')) throw new Error(`a job ended ${ends.find((e) => e.state !== 'done')?.state}`);
  await Promise.all(ss.map((s) => s.c.close()));
  return { jobs: n, wallS: r2(wallS), jobsPerMin: r2((60 * n) / wallS), stepsPerS: r2((n * steps) / wallS) };
}

/** n live sessions, each with `edits` label updates `paceS` apart: edit -> refreshed view latencies (ms). */
async function liveLatency(url: string, n: number, edits: number, paceS: number, sh: Shape, seed0: number): Promise<number[]> {
  const ss = await Promise.all(Array.from({ length: n }, (_, i) => session(url, seed0 + i, sh)));
  const lat: number[] = [];
  await Promise.all(
    ss.map(async (s, i) => {
      const half = sh.size / 2;
      await s.c.call('session.setView', { sessionId: s.sessionId, imageId: 'img1', region: [0, 0, half, half] });
      const { jobId } = await s.c.call('model.train', { sessionId: s.sessionId, live: true, options: sh.options });
      await s.c.waitForEvent((e) => e.type === 'prediction.updated', 600_000);
      for (let k = 0; k < edits; k++) {
        await sleep(paceS * 1000 * (0.75 + (0.5 * (((i + k) * 7919) % 100)) / 100));
        const y = (4 * k) % (half - 4);
        let gen = Number.POSITIVE_INFINITY; // known once labels.update answers; pushes before that do not count
        const pushed = s.c.waitForEvent((e) => e.type === 'prediction.updated' && (e as Pred).generation >= gen, 600_000);
        const t0 = Date.now();
        ({ generation: gen } = await s.c.call('labels.update', {
          sessionId: s.sessionId,
          imageId: 'img1',
          labels: nd(new Int32Array(16).fill(0), [4, 4]),
          origin: [y, 2],
          encoding: 'signed',
        }));
        await pushed;
        lat.push(Date.now() - t0);
      }
      await s.c.call('model.cancel', { jobId });
    }),
  );
  await Promise.all(ss.map((s) => s.c.close()));
  return lat;
}

/** One session: a train job's wall time and 10 predictions' latencies (after a warm-up job). */
async function oneSession(url: string, steps: number, sh: Shape, seed: number): Promise<{ trainS: number; predictMs: ReturnType<typeof stats> }> {
  const s = await session(url, seed, sh);
  // Warm-up (model built and loaded, kernels compiled) so both daemons are measured on a loaded model.
  const warm = await s.c.call('model.train', { sessionId: s.sessionId, steps: 2, options: sh.options });
  await s.c.waitForProgressEnd(warm.jobId, 600_000);
  await s.c.call('model.predict', { sessionId: s.sessionId, imageId: 'img1' });
  const t0 = Date.now();
  const { jobId } = await s.c.call('model.train', { sessionId: s.sessionId, steps, options: sh.options });
  await s.c.waitForProgressEnd(jobId, 1_800_000);
  const trainS = (Date.now() - t0) / 1000;
  const ms: number[] = [];
  for (let k = 0; k < 10; k++) {
    const t = performance.now();
    await s.c.call('model.predict', { sessionId: s.sessionId, imageId: 'img1' });
    ms.push(performance.now() - t);
  }
  await s.c.close();
  return { trainS: r2(trainS), predictMs: stats(ms) };
}

const r2 = (v: number) => Math.round(v * 100) / 100;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const list = (name: string, def: number[]) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1].split(',').map(Number) : def;
  };
  const counts = list('workers', [1, 2, 3]);
  const sessions = flag(args, 'sessions', 6);
  const steps = flag(args, 'steps', 60);
  const edits = flag(args, 'edits', 6);
  const pace = flag(args, 'pace', 1.5);
  const live = flag(args, 'live', 3);
  const size = flag(args, 'size', 128);
  const sh: Shape = {
    size,
    config: { unetDepth: flag(args, 'depth', 2), unetFilters: flag(args, 'filters', 8) },
    options: { patchSize: Math.min(64, size), batchSize: 2 },
  };
  const byWorkers: Record<string, unknown>[] = [];
  let overhead: Record<string, unknown> | undefined;
  for (const w of counts) {
    const redis = await startRedis();
    const home = tempDir('sparsecell-bench-cluster-');
    const front = await spawnFront(redis.url, home);
    const workers: TestWorker[] = await Promise.all(Array.from({ length: w }, (_, i) => spawnWorker(redis.url, home, `bench-w${i + 1}`, DEFAULT_WORKER_ENV)));
    try {
      log(`cluster with ${w} worker(s): ${sessions} sessions x ${steps} steps`);
      const tp = await throughput(front.url, sessions, steps, sh, 1000 * w);
      log(`  ${tp.jobsPerMin} jobs/min (${tp.wallS} s)`);
      const lat = await liveLatency(front.url, live, edits, pace, sh, 1000 * w + 100);
      const st = stats(lat);
      log(`  edit -> refreshed view: p50 ${st.p50} ms, p90 ${st.p90} ms (${live} live sessions)`);
      byWorkers.push({ workers: w, throughput: tp, liveSessions: live, editToViewMs: st });
      if (w === 1) {
        overhead = { cluster1Worker: await oneSession(front.url, steps, sh, 7) };
      }
    } finally {
      await Promise.all(workers.map((x) => stopProc(x.proc)));
      await stopProc(front.proc);
      await redis.stop();
      cleanup(home);
      cleanup(redis.dir);
    }
  }
  // The same one-session run on an embedded daemon (no Redis, one compute thread with the same thread pools).
  const d = await spawnDaemon(['--workers', '1', '--tf-threads', '1,1', '--compute-nice', '0']);
  try {
    const embedded = await oneSession(d.url, steps, sh, 7);
    overhead = { ...overhead, embedded };
    const c = overhead.cluster1Worker as { trainS: number; predictMs: { p50: number } } | undefined;
    if (c) overhead.ratio = { train: r2(c.trainS / embedded.trainS), predictP50: r2(c.predictMs.p50 / embedded.predictMs.p50) };
    log(`one session: ${JSON.stringify(overhead)}`);
  } finally {
    await d.stop();
  }
  return {
    setup: { sessions, steps, edits, paceS: pace, liveSessions: live, image: `${size}x${size} synthetic blobs`, ...sh, tfThreadsPerWorker: '1,1' },
    byWorkers,
    queueOverheadOneSession: overhead,
    note: 'Workers, front daemon and Redis share this machine: with 2 cores, more than two workers cannot add compute, so the gain from 2 and 3 workers is bounded by the cores, not by the queue.',
  };
}
