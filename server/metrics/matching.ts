/**
 * Instance-segmentation matching metrics with EXACTLY stardist.matching's definitions and numbers
 * (stardist/matching.py: `matching`, `matching_dataset`), plus a sparse-aware variant. Pure.
 *
 * stardist semantics reproduced here:
 *  - ids are relabelled sequentially; 0 is background; the overlap matrix counts pixels per (true, pred) pair;
 *  - scores: 'iou' = |T∩P| / (|T| + |P| - |T∩P|), 'iot' = |T∩P| / |T|, 'iop' = |T∩P| / |P|, computed in
 *    float64 and STORED AS FLOAT32 (stardist's _safe_divide writes into a float32 array); numpy compares
 *    that float32 array with the Python float threshold IN FLOAT32, so the test is
 *    fround(score) >= fround(thresh) (so an IoU of exactly 7/10, stored as 0.699999988, matches at 0.7);
 *  - optimal assignment (scipy linear_sum_assignment) on costs -(score >= thr) - score / (2 * n_matched),
 *    n_matched = min(n_true, n_pred): maximise the number of matches >= thr, ties broken by the score sum;
 *  - tp = assigned pairs with score >= thr; fp = n_pred - tp; fn = n_true - tp; precision = tp/(tp+fp),
 *    recall = tp/(tp+fn), accuracy = tp/(tp+fp+fn), f1 = 2tp/(2tp+fp+fn) (all 0 when tp = 0);
 *    mean_matched_score = sum of matched scores / tp, mean_true_score = that sum / n_true,
 *    panoptic_quality = that sum / (tp + fp/2 + fn/2) (0 when the divisor is 0).
 * The assignment is solved per connected component of the "overlap > 0" bipartite graph (pairs without
 * overlap cost 0, so the optimum is the same as scipy's dense solve) with a Hungarian / shortest
 * augmenting path solver, so large images with thousands of objects stay fast.
 */
import type { Labels2D } from '../imaging/types.js';

export type MatchingCriterion = 'iou' | 'iot' | 'iop';

export interface MatchingStats {
  criterion: MatchingCriterion;
  thresh: number;
  fp: number;
  tp: number;
  fn: number;
  precision: number;
  recall: number;
  accuracy: number;
  f1: number;
  n_true: number;
  n_pred: number;
  mean_true_score: number;
  mean_matched_score: number;
  panoptic_quality: number;
}

export interface SparseMatchingStats extends MatchingStats {
  /** Unmatched predicted objects lying (mostly) on unlabeled ground truth: not counted anywhere. */
  n_ignored: number;
}

export interface DatasetMatchingStats extends MatchingStats {
  by_image: boolean;
}

/** One matched (true, pred) pair, with ORIGINAL ids and its float32 score. */
export interface MatchedPair {
  trueId: number;
  predId: number;
  score: number;
}

/** Overlap structure of two label images (ids relabelled to 1..n in increasing order). */
interface Overlap {
  trueIds: number[];
  predIds: number[];
  /** pixel counts per sequential id (index 0 unused) */
  nTrue: Float64Array;
  nPred: Float64Array;
  /** sparse pairs with overlap > 0 between objects (not background): t, p (sequential), count */
  pt: Int32Array;
  pp: Int32Array;
  pc: Float64Array;
}

function seqIds(d: Int32Array): { ids: number[]; map: Map<number, number> } {
  const set = new Set<number>();
  for (let i = 0; i < d.length; i++) if (d[i] > 0) set.add(d[i]);
  const ids = [...set].sort((a, b) => a - b);
  const map = new Map<number, number>();
  ids.forEach((id, i) => map.set(id, i + 1));
  return { ids, map };
}

/** `use(i)` false -> pixel i is left out of every count (sparse variant). */
function computeOverlap(gt: Labels2D, pred: Labels2D, use?: (i: number) => boolean): Overlap {
  const t = seqIds(gt.data),
    p = seqIds(pred.data);
  const nt = t.ids.length,
    np = p.ids.length;
  const nTrue = new Float64Array(nt + 1),
    nPred = new Float64Array(np + 1);
  const pairs = new Map<number, number>();
  const g = gt.data,
    q = pred.data;
  for (let i = 0; i < g.length; i++) {
    if (use && !use(i)) continue;
    const a = g[i] > 0 ? (t.map.get(g[i]) as number) : 0;
    const b = q[i] > 0 ? (p.map.get(q[i]) as number) : 0;
    nTrue[a]++;
    nPred[b]++;
    if (a > 0 && b > 0) {
      const key = a * (np + 1) + b;
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
    }
  }
  const n = pairs.size;
  const pt = new Int32Array(n),
    pp = new Int32Array(n),
    pc = new Float64Array(n);
  let k = 0;
  for (const [key, c] of pairs) {
    pt[k] = Math.floor(key / (np + 1));
    pp[k] = key % (np + 1);
    pc[k] = c;
    k++;
  }
  return { trueIds: t.ids, predIds: p.ids, nTrue, nPred, pt, pp, pc };
}

function pairScores(ov: Overlap, criterion: MatchingCriterion): Float64Array {
  const s = new Float64Array(ov.pc.length);
  for (let k = 0; k < s.length; k++) {
    const inter = ov.pc[k],
      a = ov.nTrue[ov.pt[k]],
      b = ov.nPred[ov.pp[k]];
    const den = criterion === 'iou' ? a + b - inter : criterion === 'iot' ? a : b;
    s[k] = den > 1e-10 ? Math.fround(inter / den) : 0;
  }
  return s;
}

/**
 * Minimum-cost assignment of a dense rows x cols cost matrix (row-major), rows <= cols: every row gets a
 * distinct column. Shortest augmenting paths with potentials (Jonker-Volgenant style), O(rows^2 * cols).
 * Returns the column of each row.
 */
export function solveAssignment(cost: Float64Array, rows: number, cols: number): Int32Array {
  if (rows > cols) throw new Error('solveAssignment: needs rows <= cols (transpose the problem)');
  const INF = Infinity;
  const u = new Float64Array(rows + 1),
    v = new Float64Array(cols + 1);
  const p = new Int32Array(cols + 1); // p[j] = row (1-based) assigned to column j, 0 = free
  const way = new Int32Array(cols + 1);
  const minv = new Float64Array(cols + 1);
  const used = new Uint8Array(cols + 1);
  for (let i = 1; i <= rows; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = INF,
        j1 = 0;
      const base = (i0 - 1) * cols;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const cur = cost[base + j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const res = new Int32Array(rows).fill(-1);
  for (let j = 1; j <= cols; j++) if (p[j] > 0) res[p[j] - 1] = j - 1;
  return res;
}

/**
 * Optimal matching for one threshold. Returns the assigned pairs (sequential ids, index into the pair list)
 * that have a positive score; pairs with score 0 contribute nothing to any statistic.
 */
function assign(ov: Overlap, scores: Float64Array, thr: number): number[] {
  const nt = ov.trueIds.length,
    np = ov.predIds.length;
  const nMatched = Math.min(nt, np);
  if (nMatched === 0 || scores.length === 0) return [];
  // connected components over true (0..nt-1) and pred (nt..nt+np-1) nodes
  const parent = new Int32Array(nt + np);
  for (let i = 0; i < parent.length; i++) parent[i] = i;
  const find = (a: number): number => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  };
  for (let k = 0; k < scores.length; k++) {
    const a = find(ov.pt[k] - 1),
      b = find(nt + ov.pp[k] - 1);
    if (a !== b) parent[a] = b;
  }
  const comp = new Map<number, number[]>(); // root -> pair indices
  for (let k = 0; k < scores.length; k++) {
    const r = find(ov.pt[k] - 1);
    const list = comp.get(r);
    if (list) list.push(k);
    else comp.set(r, [k]);
  }
  const chosen: number[] = [];
  for (const ks of comp.values()) {
    if (ks.length === 1) {
      chosen.push(ks[0]);
      continue;
    } // single pair: cost < 0, always assigned
    const rowsIds: number[] = [],
      colsIds: number[] = [];
    const rIdx = new Map<number, number>(),
      cIdx = new Map<number, number>();
    for (const k of ks) {
      if (!rIdx.has(ov.pt[k])) {
        rIdx.set(ov.pt[k], rowsIds.length);
        rowsIds.push(ov.pt[k]);
      }
      if (!cIdx.has(ov.pp[k])) {
        cIdx.set(ov.pp[k], colsIds.length);
        colsIds.push(ov.pp[k]);
      }
    }
    const transpose = rowsIds.length > colsIds.length;
    const R = transpose ? colsIds.length : rowsIds.length,
      C = transpose ? rowsIds.length : colsIds.length;
    const cost = new Float64Array(R * C);
    const pairAt = new Int32Array(R * C).fill(-1);
    for (const k of ks) {
      const s = scores[k];
      const c = -(s >= Math.fround(thr) ? 1 : 0) - Math.fround(s / (2 * nMatched));
      let r = rIdx.get(ov.pt[k]) as number,
        q = cIdx.get(ov.pp[k]) as number;
      if (transpose) {
        const t = r;
        r = q;
        q = t;
      }
      cost[r * C + q] = c;
      pairAt[r * C + q] = k;
    }
    const sol = solveAssignment(cost, R, C);
    for (let r = 0; r < R; r++) {
      const k = pairAt[r * C + sol[r]];
      if (k >= 0) chosen.push(k);
    }
  }
  return chosen;
}

const safeDiv = (x: number, y: number) => (Math.abs(y) > 1e-10 ? x / y : 0);

function stats(criterion: MatchingCriterion, thresh: number, tp: number, nTrue: number, nPred: number, sumMatched: number): MatchingStats {
  const fp = nPred - tp,
    fn = nTrue - tp;
  return {
    criterion,
    thresh,
    fp,
    tp,
    fn,
    precision: tp > 0 ? tp / (tp + fp) : 0,
    recall: tp > 0 ? tp / (tp + fn) : 0,
    accuracy: tp > 0 ? tp / (tp + fp + fn) : 0,
    f1: tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0,
    n_true: nTrue,
    n_pred: nPred,
    mean_true_score: safeDiv(sumMatched, nTrue),
    mean_matched_score: safeDiv(sumMatched, tp),
    panoptic_quality: safeDiv(sumMatched, tp + fp / 2 + fn / 2),
  };
}

function checkPair(gt: Labels2D, pred: Labels2D, allowNegativeGt: boolean): void {
  if (gt.height !== pred.height || gt.width !== pred.width) {
    throw new Error(`y_true (${gt.height}, ${gt.width}) and y_pred (${pred.height}, ${pred.width}) have different shapes`);
  }
  for (let i = 0; i < gt.data.length; i++) {
    if (gt.data[i] < (allowNegativeGt ? -1 : 0)) {
      throw new Error(allowNegativeGt ? 'y_true must be >= -1' : 'y_true must be non-negative (use matchingSparse for labels with -1 unlabeled)');
    }
  }
  for (let i = 0; i < pred.data.length; i++) if (pred.data[i] < 0) throw new Error('y_pred must be non-negative');
}

function toList(thresh: number | number[]): number[] {
  return typeof thresh === 'number' ? [thresh] : thresh;
}

/** Per-threshold matching plus the matched pairs (for callers that need them, e.g. group matching). */
export function matchingWithPairs(
  gt: Labels2D,
  pred: Labels2D,
  thresh = 0.5,
  criterion: MatchingCriterion = 'iou',
): { stats: MatchingStats; pairs: MatchedPair[] } {
  checkPair(gt, pred, false);
  const ov = computeOverlap(gt, pred);
  const scores = pairScores(ov, criterion);
  const chosen = assign(ov, scores, thresh);
  let tp = 0,
    sum = 0;
  const pairs: MatchedPair[] = [];
  for (const k of chosen) {
    if (scores[k] >= Math.fround(thresh)) {
      tp++;
      sum += scores[k];
      pairs.push({ trueId: ov.trueIds[ov.pt[k] - 1], predId: ov.predIds[ov.pp[k] - 1], score: scores[k] });
    }
  }
  return { stats: stats(criterion, thresh, tp, ov.trueIds.length, ov.predIds.length, sum), pairs };
}

/**
 * stardist.matching.matching(y_true, y_pred, thresh, criterion): both label images non-negative
 * (0 background). Thresholds may be a list (one result per threshold, the overlap computed once).
 */
export function matching(gt: Labels2D, pred: Labels2D, thresh?: number, criterion?: MatchingCriterion): MatchingStats;
export function matching(gt: Labels2D, pred: Labels2D, thresh: number[], criterion?: MatchingCriterion): MatchingStats[];
export function matching(gt: Labels2D, pred: Labels2D, thresh: number | number[] = 0.5, criterion: MatchingCriterion = 'iou'): MatchingStats | MatchingStats[] {
  checkPair(gt, pred, false);
  const ov = computeOverlap(gt, pred);
  const scores = pairScores(ov, criterion);
  const res = toList(thresh).map((thr) => {
    let tp = 0,
      sum = 0;
    for (const k of assign(ov, scores, thr))
      if (scores[k] >= Math.fround(thr)) {
        tp++;
        sum += scores[k];
      }
    return stats(criterion, thr, tp, ov.trueIds.length, ov.predIds.length, sum);
  });
  return typeof thresh === 'number' ? res[0] : res;
}

export interface SparseMatchingOptions {
  /**
   * An UNMATCHED predicted object is ignored (neither a false positive nor counted in n_pred) when at least
   * this fraction of its pixels lies on unlabeled (-1) ground truth. Default 0.5; 1 ignores only objects
   * lying entirely on unlabeled pixels. Must be in (0, 1].
   */
  ignoreFraction?: number;
}

/**
 * Sparse-aware matching: ground truth in the signed convention (-1 unlabeled, 0 background, k instance).
 * Definition:
 *  1. Unlabeled ground-truth pixels are left out of every pixel count: scores use only labeled pixels,
 *     e.g. IoU = |T∩P| / (|T| + |P \ U| - |T∩P|) where U is the unlabeled set (T never meets U).
 *  2. Every labeled ground-truth object counts (n_true); matching is stardist's (same costs, thresholds,
 *     float32 scores) on these counts.
 *  3. A predicted object that is matched (score >= thr) is a true positive wherever it lies. An unmatched
 *     predicted object whose fraction of pixels on U is >= ignoreFraction is ignored (n_ignored); every
 *     other unmatched predicted object is a false positive. n_pred = tp + fp (ignored ones excluded).
 *  4. All ratios (precision, recall, accuracy, f1, mean scores, panoptic quality) are stardist's formulas
 *     on these tp, fp, fn. With no -1 in the ground truth this equals `matching` exactly.
 */
export function matchingSparse(gt: Labels2D, pred: Labels2D, thresh?: number, criterion?: MatchingCriterion, opts?: SparseMatchingOptions): SparseMatchingStats;
export function matchingSparse(
  gt: Labels2D,
  pred: Labels2D,
  thresh: number[],
  criterion?: MatchingCriterion,
  opts?: SparseMatchingOptions,
): SparseMatchingStats[];
export function matchingSparse(
  gt: Labels2D,
  pred: Labels2D,
  thresh: number | number[] = 0.5,
  criterion: MatchingCriterion = 'iou',
  opts: SparseMatchingOptions = {},
): SparseMatchingStats | SparseMatchingStats[] {
  checkPair(gt, pred, true);
  const ignoreFraction = opts.ignoreFraction ?? 0.5;
  if (!(ignoreFraction > 0 && ignoreFraction <= 1)) throw new Error('ignoreFraction must be in (0, 1]');
  const g = gt.data;
  const ov = computeOverlap(gt, pred, (i) => g[i] !== -1);
  const scores = pairScores(ov, criterion);
  // fraction of each predicted object (sequential id) on unlabeled pixels
  const map = new Map<number, number>();
  ov.predIds.forEach((id, i) => map.set(id, i + 1));
  const onU = new Float64Array(ov.predIds.length + 1),
    total = new Float64Array(ov.predIds.length + 1);
  for (let i = 0; i < g.length; i++) {
    const v = pred.data[i];
    if (v <= 0) continue;
    const s = map.get(v) as number;
    total[s]++;
    if (g[i] === -1) onU[s]++;
  }
  const res = toList(thresh).map((thr) => {
    let tp = 0,
      sum = 0;
    const matched = new Uint8Array(ov.predIds.length + 1);
    for (const k of assign(ov, scores, thr)) {
      if (scores[k] >= Math.fround(thr)) {
        tp++;
        sum += scores[k];
        matched[ov.pp[k]] = 1;
      }
    }
    let ignored = 0;
    for (let s = 1; s <= ov.predIds.length; s++) if (!matched[s] && onU[s] / total[s] >= ignoreFraction) ignored++;
    const st = stats(criterion, thr, tp, ov.trueIds.length, ov.predIds.length - ignored, sum);
    return { ...st, n_ignored: ignored };
  });
  return typeof thresh === 'number' ? res[0] : res;
}

/**
 * stardist.matching.matching_dataset: per-image matching, accumulated. by_image = false (default): counts
 * are summed and the ratios recomputed from the sums (mean scores from the summed matched-score sums);
 * by_image = true: counts summed, ratios averaged over images.
 */
export function matchingDataset(gts: Labels2D[], preds: Labels2D[], thresh?: number, criterion?: MatchingCriterion, byImage?: boolean): DatasetMatchingStats;
export function matchingDataset(gts: Labels2D[], preds: Labels2D[], thresh: number[], criterion?: MatchingCriterion, byImage?: boolean): DatasetMatchingStats[];
export function matchingDataset(
  gts: Labels2D[],
  preds: Labels2D[],
  thresh: number | number[] = 0.5,
  criterion: MatchingCriterion = 'iou',
  byImage = false,
): DatasetMatchingStats | DatasetMatchingStats[] {
  if (gts.length !== preds.length) throw new Error('y_true and y_pred must have the same length.');
  const ths = toList(thresh);
  const per = gts.map((g, i) => matching(g, preds[i], ths, criterion));
  const res = ths.map((thr, t) =>
    accumulate(
      per.map((s) => s[t]),
      thr,
      criterion,
      byImage,
    ),
  );
  return typeof thresh === 'number' ? res[0] : res;
}

/** Sparse counterpart of matchingDataset (ground truth may hold -1), accumulated the same way. */
export function matchingDatasetSparse(
  gts: Labels2D[],
  preds: Labels2D[],
  thresh: number[],
  criterion: MatchingCriterion = 'iou',
  byImage = false,
  opts: SparseMatchingOptions = {},
): Array<DatasetMatchingStats & { n_ignored: number }> {
  if (gts.length !== preds.length) throw new Error('y_true and y_pred must have the same length.');
  const per = gts.map((g, i) => matchingSparse(g, preds[i], thresh, criterion, opts));
  return thresh.map((thr, t) => {
    const list = per.map((s) => s[t]);
    return { ...accumulate(list, thr, criterion, byImage), n_ignored: list.reduce((a, s) => a + s.n_ignored, 0) };
  });
}

function accumulate(list: MatchingStats[], thr: number, criterion: MatchingCriterion, byImage: boolean): DatasetMatchingStats {
  const n = list.length;
  let tp = 0,
    fp = 0,
    fn = 0,
    nTrue = 0,
    nPred = 0,
    sumMatched = 0;
  const avg = { precision: 0, recall: 0, accuracy: 0, f1: 0, mean_true_score: 0, mean_matched_score: 0, panoptic_quality: 0 };
  for (const s of list) {
    tp += s.tp;
    fp += s.fp;
    fn += s.fn;
    nTrue += s.n_true;
    nPred += s.n_pred;
    sumMatched += s.mean_true_score * s.n_true;
    for (const k of Object.keys(avg) as Array<keyof typeof avg>) avg[k] += s[k];
  }
  if (byImage) {
    for (const k of Object.keys(avg) as Array<keyof typeof avg>) avg[k] /= n;
    return { criterion, thresh: thr, fp, tp, fn, n_true: nTrue, n_pred: nPred, ...avg, by_image: true };
  }
  return { ...stats(criterion, thr, tp, nTrue, nPred, sumMatched), by_image: false };
}
