/**
 * npm run bench -- live [--edits 30] [--pace 2.5] [--sessions 4] [--depth 2] [--filters 16] [--image NAME]
 * Replays a person annotating a DSB2018 image (one object every --pace seconds, background strokes in between)
 * against a spawned daemon in live mode, with the view on a 512x512 region. Records, per edit, the latency
 * from labels.update to the first prediction.updated whose generation includes it, and the F1 (IoU 0.5, dense
 * ground truth of the view) of every pushed prediction over time. Then the same with N sessions at once while
 * another client samples server.info latency. Goals: median edit -> refreshed view <= 2 s; RPC p99 <= 10 ms.
 * Writes bench/results/live.json (via the dispatcher) and bench/results/live-f1.png (Vega-Lite; spec and data in live-f1.vl.json).
 */
import { join } from 'node:path';
import { SparsecellClient } from '../clients/typescript/src/client.js';
import { decodeNdArray, encodeNdArray } from '../protocol/src/ndarray.js';
import type { EventParams } from '../protocol/src/progress.js';
import { matching } from '../server/metrics/matching.js';
import { readImage, readLabels, writeBytes, sharedDataDir, ensureDir } from '../server/storage/dataset.js';
import { boundingBoxes } from '../server/imaging/labels.js';
import { FIGURE_CONFIG, renderFigure, type TopLevelSpec } from '../server/plot/vega.js';
import type { Labels2D } from '../server/imaging/types.js';
import { rng } from '../scripts/synthetic.js';
import { flag, log, spawnDaemon, stats } from './helpers.js';
import { RESULTS_DIR } from './run.js';

type Pred = Extract<EventParams, { type: 'prediction.updated' }>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const V = 512;

interface Trace {
  latenciesMs: number[];
  f1: Array<[number, number]>;
  edits: number;
  events: number;
}

function crop(l: Labels2D, h: number, w: number): Labels2D {
  const out = new Int32Array(h * w);
  for (let y = 0; y < h; y++) out.set(l.data.subarray(y * l.width, y * l.width + w), y * w);
  return { height: h, width: w, data: out };
}

async function annotate(c: SparsecellClient, image: Uint8Array, H: number, W: number, gt: Labels2D, edits: number, paceS: number, depth: number, filters: number, seed: number): Promise<Trace> {
  const { sessionId } = await c.call('session.create', { name: 'live-bench', config: { unetDepth: depth, unetFilters: filters } });
  await c.call('image.add', { sessionId, image: encodeNdArray(image, [H, W]) });
  await c.call('session.setView', { sessionId, imageId: 'img1', region: [0, 0, V, V] });
  const gtView = crop(gt, V, V);
  const pending: Array<{ generation: number; at: number }> = [];
  const trace: Trace = { latenciesMs: [], f1: [], edits: 0, events: 0 };
  let t0 = 0;
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
    const pred = decodeNdArray(ev.labels, { maxElements: 1e8 }).data as Int32Array;
    trace.f1.push([(now - t0) / 1000, matching(gtView, { height: V, width: V, data: Int32Array.from(pred) }, 0.5).f1]);
  });
  const { jobId } = await c.call('model.train', { sessionId, live: true });
  t0 = Date.now();
  // The person's order: objects in the view, shuffled; background strokes every 5 edits.
  const boxes = [...boundingBoxes(gtView).entries()].filter(([, b]) => b.area >= 20);
  const r = rng(seed);
  for (let i = boxes.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [boxes[i], boxes[j]] = [boxes[j], boxes[i]];
  }
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
    const h = y1 - y0, w = x1 - x0;
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
  return trace;
}

/** The live bench's figure: F1 of every pushed prediction over annotation time, one line per session (traces[0] alone, the rest at once). */
export function liveFigureSpec(traces: Array<Pick<Trace, 'f1'>>, meta: { edits: number; pace: number; image: string }): TopLevelSpec {
  const sessions = traces.map((_, i) => (i === 0 ? '1 session' : `${traces.length - 1} sessions: #${i}`));
  return {
    title: { text: 'Live mode: F1 of pushed predictions over annotation time', subtitle: `IoU 0.5 on the 512x512 view, ${meta.edits} edits every ${meta.pace} s; image ${meta.image.slice(0, 12)}` },
    data: { values: traces.flatMap((t, i) => t.f1.map(([timeS, f1]) => ({ session: sessions[i], timeS, f1 }))) },
    mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 25 } },
    width: 640, height: 360,
    encoding: {
      x: { field: 'timeS', type: 'quantitative', title: 'annotation time (s)' },
      y: { field: 'f1', type: 'quantitative', title: 'F1 at IoU 0.5', scale: { domain: [0, 1] } },
      color: { field: 'session', type: 'nominal', title: 'run', scale: { domain: sessions, range: sessions.map((_, i) => LIVE_COLORS[i % LIVE_COLORS.length]) } },
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
  const dsb = sharedDataDir(join(RESULTS_DIR, '..', '..'), 'dsb2018-train');
  if (!dsb) throw new Error('../shared/data/dsb2018-train is missing');
  const iIdx = args.indexOf('--image');
  const name = iIdx >= 0 ? args[iIdx + 1] : '10ba6cbee4873b32d5626a118a339832ba2b15d8643f66dddcd7cb2ec80fbc28';
  const img = readImage(join(dsb, 'images', `${name}.tif`));
  const gt = readLabels(join(dsb, 'masks', `${name}.tif`));
  const H = img.height, W = img.width;
  const pixels = Uint8Array.from(img.data);
  const d = await spawnDaemon();
  try {
    log(`live bench: 1 session, ${edits} edits every ${pace}s, view ${V}x${V} of ${H}x${W}, U-Net filters ${filters}`);
    const c = await SparsecellClient.connect(d.url);
    const single = await annotate(c, pixels, H, W, gt, edits, pace, depth, filters, 1);
    await c.close();
    log(`single: edit->view ${JSON.stringify(stats(single.latenciesMs))}`);

    log(`live bench: ${nMulti} sessions at once, RPC latency sampled meanwhile`);
    const probe = await SparsecellClient.connect(d.url);
    const rpcLat: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const t = process.hrtime.bigint();
        await probe.call('server.info', {});
        rpcLat.push(Number(process.hrtime.bigint() - t) / 1e6);
        await sleep(100);
      }
    })();
    const multiClients = await Promise.all(Array.from({ length: nMulti }, () => SparsecellClient.connect(d.url)));
    const multi = await Promise.all(multiClients.map((mc, i) => annotate(mc, pixels, H, W, gt, edits, pace, depth, filters, 100 + i)));
    probing = false;
    await prober;
    await probe.close();
    for (const mc of multiClients) await mc.close();

    // F1 over annotation time.
    const fig = await renderFigure(liveFigureSpec([single, ...multi], { edits, pace, image: name }));
    ensureDir(RESULTS_DIR);
    writeBytes(join(RESULTS_DIR, 'live-f1.vl.json'), JSON.stringify(fig.spec, null, 1) + '\n');
    writeBytes(join(RESULTS_DIR, 'live-f1.png'), fig.png);
    const allMulti = multi.flatMap((m) => m.latenciesMs);
    return {
      image: name, view: [0, 0, V, V], edits, paceS: pace, unetDepth: depth, unetFilters: filters, liveDefaults: 'patch 128, batch 2, lr 2e-3, push context 16 px',
      single: { editToViewMs: stats(single.latenciesMs), events: single.events, f1First: single.f1[0]?.[1], f1Last: single.f1[single.f1.length - 1]?.[1], f1: single.f1 },
      multi: { sessions: nMulti, editToViewMs: stats(allMulti), rpcServerInfoMs: stats(rpcLat), f1Last: multi.map((m) => m.f1[m.f1.length - 1]?.[1]) },
      goals: { medianEditToViewMs: 2000, rpcP99Ms: 10 },
      plot: 'bench/results/live-f1.png',
    };
  } finally {
    await d.stop();
  }
}
