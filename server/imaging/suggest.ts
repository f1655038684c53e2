/**
 * What to annotate next (issue 18): rank the objects and places of a view that would teach the model most. Pure
 * (typed arrays in, a ranked list out); the worker and the study run the network and hand the instances here.
 *
 * Reasons, each a score in [0, 1]:
 *  - `uncertain` (objects): the prediction disagrees with its test-time-augmented (flipped) versions. Per predicted
 *    object, 1 − the mean over views of its best IoU with an object of that view; objects found only in a flipped
 *    view (missed by the plain prediction) score the fraction of views that found them.
 *  - `near-threshold` (objects): the object's probability is barely above the threshold: 1 − (p − t) / (1 − t); or
 *    the object appears only at a lower threshold (`below`): p / t. Weighted by SUGGEST_DEFAULTS.nearWeight.
 *  - `unlike-labeled` (areas): blocks of the view far from every labeled pixel whose intensity statistics (mean,
 *    standard deviation, mean gradient) are unlike those of every labeled block of the image; the score is
 *    novelty d / (1 + d) (d: the standardised distance to the nearest labeled block) times min(1, distance / farPx).
 * An object is reported under its larger reason. Nothing already labeled is suggested: an object or block whose
 * pixels are labeled (object or background) beyond maxLabeledFraction is left out.
 */
import { edt } from './edt.js';
import { pixelMean, type Image2D, type Instances, type Labels2D, type Polygon } from './types.js';

export type SuggestReason = 'uncertain' | 'near-threshold' | 'unlike-labeled';
export const SUGGEST_REASONS: readonly SuggestReason[] = ['uncertain', 'near-threshold', 'unlike-labeled'];

export interface RankedSuggestion {
  /** [y0, x0, y1, x1], half-open, in the coordinates of the input arrays. */
  region: [number, number, number, number];
  kind: 'object' | 'area';
  reason: SuggestReason;
  score: number;
  polygon?: Polygon;
}

export const SUGGEST_DEFAULTS = Object.freeze({
  count: 10,
  /** An object or area with more of its pixels labeled than this is never suggested. */
  maxLabeledFraction: 0.1,
  /** Side of the blocks the unlike-labeled reason compares (px). */
  blockSize: 32,
  /** A block this far (px) from every labeled pixel counts as fully far. */
  farPx: 64,
  /** Weight of near-threshold against uncertain (TTA disagreement is measured, the threshold margin is a proxy). */
  nearWeight: 0.8,
  /** Smallest object (px) considered. */
  minArea: 4,
  /** A flipped view's object whose best IoU with the plain prediction is below this is a missed object. */
  missedIou: 0.2,
  /** Floor of each block feature's scale when standardising (normalised intensity units). */
  featureFloor: 0.05,
});
export type SuggestOptions = { -readonly [K in keyof typeof SUGGEST_DEFAULTS]: number } & {
  /** Reasons to use (default all). */
  reasons: readonly SuggestReason[];
};

export interface SuggestInput {
  /** Normalised image of the window (the view plus context). */
  image: Image2D;
  /** Signed sparse labels of the window (−1 unlabeled). */
  labels: Labels2D;
  /** The plain prediction of the window. */
  pred: Instances;
  /** The plain prediction post-processed at a lower threshold: its objects that `pred` lacks were nearly found. */
  below?: Instances;
  /** Predictions of flipped copies of the window, mapped back onto the window. */
  tta: Instances[];
  /** Where suggestions may lie (window coordinates); objects count when their centroid is inside. */
  region: [number, number, number, number];
  /** The probability threshold the predictions used. */
  probThresh: number;
  /** Features of labeled blocks (labeledBlockFeatures over the whole image); default: from the window. */
  reference?: BlockFeature[];
}

interface ObjStat {
  id: number;
  area: number;
  labeled: number;
  sy: number;
  sx: number;
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

function objectStats(lab: Int32Array, sparse: Int32Array, W: number): Map<number, ObjStat> {
  const m = new Map<number, ObjStat>();
  for (let i = 0; i < lab.length; i++) {
    const id = lab[i];
    if (id <= 0) continue;
    const y = Math.floor(i / W),
      x = i - y * W;
    let s = m.get(id);
    if (!s) {
      s = { id, area: 0, labeled: 0, sy: 0, sx: 0, y0: y, x0: x, y1: y + 1, x1: x + 1 };
      m.set(id, s);
    }
    s.area++;
    if (sparse[i] >= 0) s.labeled++;
    s.sy += y;
    s.sx += x;
    if (y < s.y0) s.y0 = y;
    if (y + 1 > s.y1) s.y1 = y + 1;
    if (x < s.x0) s.x0 = x;
    if (x + 1 > s.x1) s.x1 = x + 1;
  }
  return m;
}

/** For each object of `a`: its best IoU with an object of `b`. */
function bestIou(a: Int32Array, aStats: Map<number, ObjStat>, b: Int32Array, bStats: Map<number, ObjStat>): Map<number, number> {
  const inter = new Map<number, Map<number, number>>();
  for (let i = 0; i < a.length; i++) {
    const p = a[i],
      q = b[i];
    if (p <= 0 || q <= 0) continue;
    let row = inter.get(p);
    if (!row) inter.set(p, (row = new Map()));
    row.set(q, (row.get(q) ?? 0) + 1);
  }
  const out = new Map<number, number>();
  for (const [id, s] of aStats) {
    let best = 0;
    for (const [q, n] of inter.get(id) ?? []) best = Math.max(best, n / (s.area + (bStats.get(q)?.area ?? 0) - n));
    out.set(id, best);
  }
  return out;
}

const inRegion = (y: number, x: number, r: readonly number[]) => y >= r[0] && y < r[2] && x >= r[1] && x < r[3];

/** Block features used by the unlike-labeled reason. */
export interface BlockFeature {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
  /** mean, standard deviation and mean absolute gradient of the channel-mean intensity. */
  f: [number, number, number];
  /** Fraction of the block's pixels that are labeled (object or background). */
  labeled: number;
}

function blockFeature(image: Image2D, labels: Labels2D, y0: number, x0: number, y1: number, x1: number, onlyLabeled: boolean): BlockFeature | undefined {
  const { width: W, channels: C, data } = image;
  const v = (y: number, x: number) => pixelMean(data, y * W + x, C);
  let n = 0,
    s1 = 0,
    s2 = 0,
    g = 0,
    lab = 0;
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const isLab = labels.data[y * W + x] >= 0;
      if (isLab) lab++;
      if (onlyLabeled && !isLab) continue;
      const a = v(y, x);
      n++;
      s1 += a;
      s2 += a * a;
      if (x + 1 < x1) g += Math.abs(v(y, x + 1) - a);
      if (y + 1 < y1) g += Math.abs(v(y + 1, x) - a);
    }
  if (n === 0) return undefined;
  const mean = s1 / n;
  return { y0, x0, y1, x1, f: [mean, Math.sqrt(Math.max(0, s2 / n - mean * mean)), g / n], labeled: lab / ((y1 - y0) * (x1 - x0)) };
}

/** Features of the labeled parts of an image: per block, over its labeled pixels (blocks with at least 16 of them). */
export function labeledBlockFeatures(image: Image2D, labels: Labels2D, blockSize: number = SUGGEST_DEFAULTS.blockSize): BlockFeature[] {
  const out: BlockFeature[] = [];
  const { height: H, width: W } = labels;
  for (let y = 0; y < H; y += blockSize)
    for (let x = 0; x < W; x += blockSize) {
      const y1 = Math.min(H, y + blockSize),
        x1 = Math.min(W, x + blockSize);
      let lab = 0;
      for (let yy = y; yy < y1; yy++) for (let xx = x; xx < x1; xx++) if (labels.data[yy * W + xx] >= 0) lab++;
      if (lab < 16) continue;
      const b = blockFeature(image, labels, y, x, y1, x1, true);
      if (b) out.push(b);
    }
  return out;
}

function objectSuggestions(input: SuggestInput, o: SuggestOptions): RankedSuggestion[] {
  const { labels, pred, tta, region, probThresh } = input;
  const W = labels.width;
  const stats = objectStats(pred.labels.data, labels.data, W);
  const ttaStats = tta.map((t) => objectStats(t.labels.data, labels.data, W));
  const agree = tta.map((t, v) => bestIou(pred.labels.data, stats, t.labels.data, ttaStats[v]));
  const polys = new Map(pred.polygons.map((p) => [p.id, p]));
  const useTta = o.reasons.includes('uncertain') && tta.length > 0;
  const useNear = o.reasons.includes('near-threshold');
  const out: RankedSuggestion[] = [];
  const free = (s: ObjStat) => s.area >= o.minArea && s.labeled / s.area <= o.maxLabeledFraction && inRegion(s.sy / s.area, s.sx / s.area, region);
  for (const s of stats.values()) {
    if (!free(s)) continue;
    const cands: Array<[SuggestReason, number]> = [];
    if (useTta) cands.push(['uncertain', 1 - agree.reduce((a, m) => a + (m.get(s.id) ?? 0), 0) / tta.length]);
    const p = polys.get(s.id)?.score;
    if (useNear && p !== undefined)
      cands.push(['near-threshold', o.nearWeight * Math.min(1, Math.max(0, 1 - (p - probThresh) / Math.max(1e-6, 1 - probThresh)))]);
    if (!cands.length) continue;
    const [reason, score] = cands.reduce((a, b) => (b[1] > a[1] ? b : a));
    const poly = polys.get(s.id)?.points;
    out.push({ region: [s.y0, s.x0, s.y1, s.x1], kind: 'object', reason, score, ...(poly ? { polygon: poly } : {}) });
  }
  // Objects the plain prediction finds only at a lower threshold: nearly found.
  if (useNear && input.below) {
    const b = input.below;
    const bStats = objectStats(b.labels.data, labels.data, W);
    const back = bestIou(b.labels.data, bStats, pred.labels.data, stats);
    const bp = new Map(b.polygons.map((q) => [q.id, q]));
    for (const s of bStats.values()) {
      const p = bp.get(s.id);
      if (!p || !free(s) || (back.get(s.id) ?? 0) >= o.missedIou) continue;
      const score = o.nearWeight * Math.min(1, Math.max(0, p.score / Math.max(1e-6, probThresh)));
      out.push({ region: [s.y0, s.x0, s.y1, s.x1], kind: 'object', reason: 'near-threshold', score, polygon: p.points });
    }
  }
  // Objects that only flipped views found: the plain prediction missed them.
  if (useTta) {
    const taken = new Int32Array(pred.labels.data.length);
    for (let i = 0; i < taken.length; i++) taken[i] = pred.labels.data[i] > 0 ? 1 : 0;
    const missed: Array<{ s: ObjStat; views: number; poly?: Polygon }> = [];
    tta.forEach((t, v) => {
      const back = bestIou(t.labels.data, ttaStats[v], pred.labels.data, stats);
      const tp = new Map(t.polygons.map((q) => [q.id, q.points]));
      for (const s of ttaStats[v].values()) {
        if (!free(s) || (back.get(s.id) ?? 0) >= o.missedIou) continue;
        const cy = Math.round(s.sy / s.area),
          cx = Math.round(s.sx / s.area);
        const same = missed.find((m) => cy >= m.s.y0 && cy < m.s.y1 && cx >= m.s.x0 && cx < m.s.x1);
        if (same) same.views++;
        else if (!taken[cy * W + cx]) missed.push({ s, views: 1, poly: tp.get(s.id) });
      }
    });
    for (const m of missed)
      out.push({
        region: [m.s.y0, m.s.x0, m.s.y1, m.s.x1],
        kind: 'object',
        reason: 'uncertain',
        score: m.views / tta.length,
        ...(m.poly ? { polygon: m.poly } : {}),
      });
  }
  return out;
}

function areaSuggestions(input: SuggestInput, o: SuggestOptions): RankedSuggestion[] {
  if (!o.reasons.includes('unlike-labeled')) return [];
  const { image, labels, region } = input;
  const { height: H, width: W } = labels;
  const B = o.blockSize;
  const reference = input.reference ?? labeledBlockFeatures(image, labels, B);
  if (reference.length === 0) return [];
  const unlabeled = new Uint8Array(H * W);
  let anyLabeled = false;
  for (let i = 0; i < unlabeled.length; i++) {
    unlabeled[i] = labels.data[i] < 0 ? 1 : 0;
    if (!unlabeled[i]) anyLabeled = true;
  }
  const dist = anyLabeled ? edt(unlabeled, H, W) : undefined;
  const [ry0, rx0, ry1, rx1] = region;
  const blocks: BlockFeature[] = [];
  for (let y = ry0; y < ry1; y += B)
    for (let x = rx0; x < rx1; x += B) {
      const y1 = Math.min(ry1, y + B),
        x1 = Math.min(rx1, x + B);
      if ((y1 - y) * 2 < B || (x1 - x) * 2 < B) continue;
      const b = blockFeature(image, labels, y, x, y1, x1, false);
      if (b && b.labeled <= o.maxLabeledFraction) blocks.push(b);
    }
  if (!blocks.length) return [];
  // Standardise each feature by its spread over the blocks and the reference (floored: flat images are not novel).
  const all = [...blocks, ...reference];
  const scale = [0, 1, 2].map((k) => {
    const m = all.reduce((a, b) => a + b.f[k], 0) / all.length;
    return Math.max(o.featureFloor, Math.sqrt(all.reduce((a, b) => a + (b.f[k] - m) ** 2, 0) / all.length));
  });
  const scored = blocks.map((b) => {
    let d = Number.POSITIVE_INFINITY;
    for (const r of reference) d = Math.min(d, Math.hypot((b.f[0] - r.f[0]) / scale[0], (b.f[1] - r.f[1]) / scale[1], (b.f[2] - r.f[2]) / scale[2]));
    const cy = Math.min(H - 1, Math.floor((b.y0 + b.y1) / 2)),
      cx = Math.min(W - 1, Math.floor((b.x0 + b.x1) / 2));
    const far = dist ? Math.min(1, dist[cy * W + cx] / o.farPx) : 1;
    return { b, score: (d / (1 + d)) * far };
  });
  scored.sort((p, q) => q.score - p.score || p.b.y0 - q.b.y0 || p.b.x0 - q.b.x0);
  // One suggestion per neighbourhood: a block touching a chosen one is left out.
  const chosen: typeof scored = [];
  for (const s of scored) {
    if (s.score <= 0 || chosen.length >= o.count) break;
    if (chosen.some((c) => Math.abs(c.b.y0 - s.b.y0) <= B && Math.abs(c.b.x0 - s.b.x0) <= B)) continue;
    chosen.push(s);
  }
  return chosen.map(({ b, score }) => ({ region: [b.y0, b.x0, b.y1, b.x1], kind: 'area', reason: 'unlike-labeled', score }));
}

/** The `count` best suggestions of a view, best first (ties: top-left first). */
export function rankSuggestions(input: SuggestInput, opts: Partial<SuggestOptions> = {}): RankedSuggestion[] {
  const o: SuggestOptions = { ...SUGGEST_DEFAULTS, reasons: SUGGEST_REASONS, ...opts };
  const all = [...objectSuggestions(input, o), ...areaSuggestions(input, o)].filter((s) => s.score > 0);
  all.sort((a, b) => b.score - a.score || a.region[0] - b.region[0] || a.region[1] - b.region[1]);
  return all.slice(0, o.count);
}
