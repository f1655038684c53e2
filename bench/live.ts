/**
 * npm run bench -- live [--edits 30] [--pace 2.5] [--sessions 4] [--depth 2] [--filters 16] [--image NAME]
 *                       [--starter nuclei [--models-dir DIR]] [--suggest-every S]
 * Replays a person annotating a DSB2018 image (one object every --pace seconds, background strokes in between)
 * against a spawned daemon in live mode, with the view on a 512x512 region. Records, per edit, the latency
 * from labels.update to the first prediction.updated whose generation includes it, and the F1 (IoU 0.5, dense
 * ground truth of the view) of every pushed prediction over time, and that F1 scored on the objects the stream
 * never labels (annotated objects, matched or not, are left out on both sides). Then the same with N sessions at
 * once while another client, on its own thread, samples server.info latency. Goals: median edit -> refreshed view <= 2 s; RPC p99 <= 10 ms.
 * --starter NAME: each session begins from that built-in starter model (session.create {starter}), so the first push
 * comes at once (zero-shot); reports the never-labeled F1 at the first push, 30 s and 75 s (issue 14 goal: >= 0.6
 * with 4 sessions from the first push on). --models-dir points the daemon at another models folder.
 * Writes bench/results/live.json (via the dispatcher) and bench/results/live-f1.png (Vega-Lite; spec and data in live-f1.vl.json).
 */
import { join } from 'node:path';
import { SparsecellClient } from '../clients/typescript/src/client.js';
import { decodeNdArray, encodeNdArray } from '../protocol/src/ndarray.js';
import type { EventParams } from '../protocol/src/progress.js';
import { matching, matchingWithPairs } from '../server/metrics/matching.js';
import { readImage, readLabels, writeBytes, sharedDataDir, ensureDir } from '../server/storage/dataset.js';
import { boundingBoxes } from '../server/imaging/labels.js';
import { FIGURE_CONFIG, renderFigure, type TopLevelSpec } from '../server/plot/vega.js';
import type { Labels2D } from '../server/imaging/types.js';
import { rng } from '../scripts/synthetic.js';
import { flag, log, spawnDaemon, stats } from './helpers.js';
import { startEchoServer, startProbe } from './probe-worker.js';
import { RESULTS_DIR } from './run.js';

type Pred = Extract<EventParams, { type: 'prediction.updated' }>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const V = 512;

interface Trace {
  latenciesMs: number[];
  f1: Array<[number, number]>;
  /** F1 on the objects the stream never labels: [seconds since the job started, F1]. */
  f1Unlabeled: Array<[number, number]>;
  edits: number;
  events: number;
  /** Fills f1 and f1Unlabeled from the recorded pushes (called once every stream has ended). */
  score(): void;
}

function crop(l: Labels2D, h: number, w: number): Labels2D {
  const out = new Int32Array(h * w);
  for (let y = 0; y < h; y++) out.set(l.data.subarray(y * l.width, y * l.width + w), y * w);
  return { height: h, width: w, data: out };
}

/**
 * F1 at IoU 0.5 on the objects the stream never labels: true objects in `labeled` are dropped, and so are the
 * predicted objects matched to them; everything else counts (a prediction on background is a false positive).
 */
export function f1NeverLabeled(gt: Labels2D, pred: Labels2D, labeled: Set<number>): number {
  const { stats, pairs } = matchingWithPairs(gt, pred, 0.5);
  const predOnLabeled = pairs.filter((p) => labeled.has(p.trueId)).length;
  const tp = pairs.length - predOnLabeled;
  const trueIds = new Set(gt.data);
  trueIds.delete(0);
  const nTrue = [...trueIds].filter((id) => !labeled.has(id)).length;
  const fp = stats.n_pred - pairs.length;
  const fn = nTrue - tp;
  return 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
}

/** F1 of the last push at or before t seconds (undefined before the first push). */
export const f1At = (trace: Array<[number, number]>, t: number): number | undefined => trace.filter(([s]) => s <= t).pop()?.[1];

/** What every replayed session shares: the image and its truth, the stream's pace and the session's model. */
interface Stream {
  image: Uint8Array;
  H: number;
  W: number;
  gt: Labels2D;
  edits: number;
  paceS: number;
  depth: number;
  filters: number;
  starter?: string;
  suggestEveryS?: number;
}

async function annotate(c: SparsecellClient, { image, H, W, gt, edits, paceS, depth, filters, starter, suggestEveryS }: Stream, seed: number): Promise<Trace> {
  const { sessionId } = await c.call(
    'session.create',
    starter ? { name: 'live-bench', starter } : { name: 'live-bench', config: { unetDepth: depth, unetFilters: filters } },
  );
  await c.call('image.add', { sessionId, image: encodeNdArray(image, [H, W]) });
  await c.call('session.setView', { sessionId, imageId: 'img1', region: [0, 0, V, V] });
  const gtView = crop(gt, V, V);
  const pending: Array<{ generation: number; at: number }> = [];
  const trace: Trace = { latenciesMs: [], f1: [], f1Unlabeled: [], edits: 0, events: 0, score: () => {} };
  const pushes: Array<{ atS: number; labels: Pred['labels'] }> = [];
  let t0 = Date.now();
  c.onEvent((e) => {
    if (e.type !== 'prediction.updated' || e.sessionId !== sessionId) return;
    const ev = e as Pred;
    const now = Date.now();
    trace.events++;
    for (let i = pending.length - 1; i >= 0; i--)
      if (pending[i].generation <= ev.generation) {
        trace.latenciesMs.push(now - pending[i].at);
        pending.splice(i, 1);
      }
    // Scored after the stream (below): scoring every push here would put the bench's own work on the CPU the
    // daemon is measured on.
    pushes.push({ atS: (now - t0) / 1000, labels: ev.labels });
  });
  // The person's order: objects in the view, shuffled; background strokes every 5 edits.
  const boxes = [...boundingBoxes(gtView).entries()].filter(([, b]) => b.area >= 20);
  const r = rng(seed);
  for (let i = boxes.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [boxes[i], boxes[j]] = [boxes[j], boxes[i]];
  }
  // Every object the stream will label (known up front, so all pushes are scored on the same objects).
  const willLabel = new Set(
    boxes
      .slice(0, edits)
      .filter((_, e) => e % 5 !== 0)
      .map(([id]) => id),
  );
  t0 = Date.now();
  const { jobId } = await c.call('model.train', { sessionId, live: true, ...(suggestEveryS !== undefined ? { options: { suggestEveryS } } : {}) });
  const signed = new Int32Array(H * W).fill(-1);
  for (let e = 0; e < edits && e < boxes.length; e++) {
    let y0: number, x0: number, y1: number, x1: number;
    if (e % 5 === 0) {
      // a background stroke: a 6-pixel-wide horizontal band at a random height, where the mask is background
      const yy = Math.floor(r() * (V - 6));
      [y0, x0, y1, x1] = [yy, 0, yy + 6, V];
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (gt.data[y * W + x] === 0) signed[y * W + x] = 0;
    } else {
      const [id, b] = boxes[e];
      [y0, x0, y1, x1] = [b.y0, b.x0, b.y1 + 1, b.x1 + 1];
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (gt.data[y * W + x] === id) signed[y * W + x] = id;
    }
    const h = y1 - y0,
      w = x1 - x0;
    const patch = new Int32Array(h * w);
    for (let y = 0; y < h; y++) patch.set(signed.subarray((y0 + y) * W + x0, (y0 + y) * W + x1), y * w);
    const at = Date.now();
    const res = await c.call('labels.update', { sessionId, imageId: 'img1', labels: encodeNdArray(patch, [h, w]), encoding: 'signed', origin: [y0, x0] });
    pending.push({ generation: res.generation, at });
    trace.edits++;
    await sleep(paceS * 1000);
  }
  const deadline = Date.now() + 30000;
  while (pending.length && Date.now() < deadline) await sleep(100);
  await c.call('model.cancel', { jobId });
  trace.score = () => {
    for (const p of pushes) {
      const pred: Labels2D = { height: V, width: V, data: Int32Array.from(decodeNdArray(p.labels, { maxElements: 1e8 }).data as Int32Array) };
      trace.f1.push([p.atS, matching(gtView, pred, 0.5).f1]);
      trace.f1Unlabeled.push([p.atS, f1NeverLabeled(gtView, pred, willLabel)]);
    }
  };
  return trace;
}

/** The live bench's figure: F1 of every pushed prediction over annotation time, one line per session (traces[0] alone, the rest at once). */
export function liveFigureSpec(traces: Array<Pick<Trace, 'f1'>>, meta: { edits: number; pace: number; image: string }): TopLevelSpec {
  const sessions = traces.map((_, i) => (i === 0 ? '1 session' : `${traces.length - 1} sessions: #${i}`));
  return {
    title: {
      text: 'Live mode: F1 of pushed predictions over annotation time',
      subtitle: `IoU 0.5 on the 512x512 view, ${meta.edits} edits every ${meta.pace} s; image ${meta.image.slice(0, 12)}`,
    },
    data: { values: traces.flatMap((t, i) => t.f1.map(([timeS, f1]) => ({ session: sessions[i], timeS, f1 }))) },
    mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 25 } },
    width: 640,
    height: 360,
    encoding: {
      x: { field: 'timeS', type: 'quantitative', title: 'annotation time (s)' },
      y: { field: 'f1', type: 'quantitative', title: 'F1 at IoU 0.5', scale: { domain: [0, 1] } },
      color: {
        field: 'session',
        type: 'nominal',
        title: 'run',
        scale: { domain: sessions, range: sessions.map((_, i) => LIVE_COLORS[i % LIVE_COLORS.length]) },
      },
      strokeDash: { field: 'session', type: 'nominal', title: 'run', scale: { domain: sessions, range: sessions.map((_, i) => (i === 0 ? [1, 0] : [6, 4])) } },
    },
    config: FIGURE_CONFIG,
  } as TopLevelSpec;
}

const LIVE_COLORS = ['#000000', '#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const edits = flag(args, 'edits', 30);
  const pace = flag(args, 'pace', 2.5);
  const nMulti = flag(args, 'sessions', 4);
  const filters = flag(args, 'filters', 16);
  const depth = flag(args, 'depth', 2);
  const sIdx = args.indexOf('--starter');
  const starter = sIdx >= 0 ? args[sIdx + 1] : undefined;
  // --suggest-every S: the sessions' TrainOptions.suggestEveryS (live suggestions; 0 = off); default the daemon's.
  const suggestEvery = args.includes('--suggest-every') ? flag(args, 'suggest-every', 10) : undefined;
  const mIdx = args.indexOf('--models-dir');
  const daemonArgs = mIdx >= 0 ? ['--models-dir', args[mIdx + 1]] : [];
  const dsb = sharedDataDir(join(RESULTS_DIR, '..', '..'), 'dsb2018-train');
  if (!dsb) throw new Error('../shared/data/dsb2018-train is missing');
  const iIdx = args.indexOf('--image');
  const name = iIdx >= 0 ? args[iIdx + 1] : '10ba6cbee4873b32d5626a118a339832ba2b15d8643f66dddcd7cb2ec80fbc28';
  const img = readImage(join(dsb, 'images', `${name}.tif`));
  const gt = readLabels(join(dsb, 'masks', `${name}.tif`));
  const H = img.height,
    W = img.width;
  const pixels = Uint8Array.from(img.data);
  const stream: Stream = { image: pixels, H, W, gt, edits, paceS: pace, depth, filters, starter, suggestEveryS: suggestEvery };
  const d = await spawnDaemon(daemonArgs);
  try {
    log(`live bench: 1 session, ${edits} edits every ${pace}s, view ${V}x${V} of ${H}x${W}, U-Net filters ${filters}`);
    const c = await SparsecellClient.connect(d.url);
    const single = await annotate(c, stream, 1);
    await c.close();
    single.score();
    log(`single: edit->view ${JSON.stringify(stats(single.latenciesMs))}`);

    log(`live bench: ${nMulti} sessions at once, RPC latency sampled meanwhile`);
    // The probe runs on its own thread (bench/probe-worker.ts), so its timings are the daemon's, not the wait behind
    // this thread's scoring of pushes. Between its server.info calls it times a bare WebSocket echo server in another
    // process: under the same load, that is the floor no server on this machine can beat.
    const echo = await startEchoServer();
    // Control: the same probe for 10 s with nothing training (on a shared machine, other load shows up here).
    const idleProbe = await startProbe(d.url, 100, echo.url);
    await sleep(10000);
    const idle = await idleProbe.stop();
    const prober = await startProbe(d.url, 100, echo.url);
    const multiClients = await Promise.all(Array.from({ length: nMulti }, () => SparsecellClient.connect(d.url)));
    const multi = await Promise.all(multiClients.map((mc, i) => annotate(mc, stream, 100 + i)));
    const busy = await prober.stop();
    await echo.stop();
    for (const m of multi) m.score();
    const probe = await SparsecellClient.connect(d.url);
    const backend = (await probe.call('server.info', {})).backend;
    await probe.close();
    for (const mc of multiClients) await mc.close();

    // F1 over annotation time.
    const fig = await renderFigure(liveFigureSpec([single, ...multi], { edits, pace, image: name }));
    ensureDir(RESULTS_DIR);
    writeBytes(join(RESULTS_DIR, 'live-f1.vl.json'), JSON.stringify(fig.spec, null, 1) + '\n');
    writeBytes(join(RESULTS_DIR, 'live-f1.png'), fig.png);
    const allMulti = multi.flatMap((m) => m.latenciesMs);
    // F1 on never-labeled objects at the first push, 30 s and 75 s after the job started.
    const milestones = (t: Trace) => ({
      firstPushS: t.f1Unlabeled[0]?.[0],
      first: t.f1Unlabeled[0]?.[1],
      at30s: f1At(t.f1Unlabeled, 30),
      at75s: f1At(t.f1Unlabeled, 75),
    });
    return {
      image: name,
      view: [0, 0, V, V],
      edits,
      paceS: pace,
      ...(starter ? { starter } : { unetDepth: depth, unetFilters: filters }),
      liveDefaults: starter ? 'patch 128, batch 2, RECIPE.finetune live rate, push context 16 px' : 'patch 128, batch 2, lr 2e-3, push context 16 px',
      single: {
        editToViewMs: stats(single.latenciesMs),
        events: single.events,
        f1First: single.f1[0]?.[1],
        f1Last: single.f1[single.f1.length - 1]?.[1],
        f1NeverLabeled: milestones(single),
        f1: single.f1,
        f1NeverLabeledTrace: single.f1Unlabeled,
      },
      multi: {
        sessions: nMulti,
        editToViewMs: stats(allMulti),
        rpcServerInfoMs: stats(busy.latenciesMs),
        // The same probe's round trips to a bare WebSocket echo server (another process) meanwhile: the machine's floor.
        echoFloorMs: stats(busy.echoMs),
        idleServerInfoMs: stats(idle.latenciesMs),
        idleEchoFloorMs: stats(idle.echoMs),
        f1Last: multi.map((m) => m.f1[m.f1.length - 1]?.[1]),
        f1NeverLabeled: multi.map(milestones),
      },
      backend,
      goals: { medianEditToViewMs: 2000, rpcP99Ms: 10, ...(starter ? { f1NeverLabeledFromFirstPush4Sessions: 0.6 } : {}) },
      plot: 'bench/results/live-f1.png',
    };
  } finally {
    await d.stop();
  }
}
