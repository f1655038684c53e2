/**
 * Small IoU matching helper for the family round-trip tests (stop-gap until server/metrics/matching.ts
 * exists): for every true object, the IoU with the predicted object it overlaps most.
 */
export function bestIoUs(truth: ArrayLike<number>, pred: ArrayLike<number>): Map<number, number> {
  const inter = new Map<string, number>();
  const at = new Map<number, number>(), ap = new Map<number, number>();
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i], p = pred[i];
    if (t > 0) at.set(t, (at.get(t) ?? 0) + 1);
    if (p > 0) ap.set(p, (ap.get(p) ?? 0) + 1);
    if (t > 0 && p > 0) inter.set(`${t},${p}`, (inter.get(`${t},${p}`) ?? 0) + 1);
  }
  const best = new Map<number, number>();
  for (const t of at.keys()) best.set(t, 0);
  for (const [key, n] of inter) {
    const [t, p] = key.split(',').map(Number);
    const iou = n / (at.get(t)! + ap.get(p)! - n);
    if (iou > best.get(t)!) best.set(t, iou);
  }
  return best;
}

/** Fraction of true objects matched with IoU >= thresh (IoU > 0.5 makes the match one-to-one). */
export function matchedFraction(truth: ArrayLike<number>, pred: ArrayLike<number>, thresh = 0.5): number {
  const best = bestIoUs(truth, pred);
  if (best.size === 0) return 1;
  let ok = 0;
  for (const v of best.values()) if (v >= thresh) ok++;
  return ok / best.size;
}

/** Number of distinct ids > 0. */
export function countIds(labels: ArrayLike<number>): number {
  const s = new Set<number>();
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0) s.add(labels[i]);
  return s.size;
}
