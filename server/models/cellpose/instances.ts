/**
 * Instance-mask finishing shared by the Cellpose-like and ELEPHANT-like post-processing (pure): small-mask
 * removal, hole filling, sequential ids, and label image -> Instances (polygons + scores). Thin glue over
 * server/imaging/labels.ts and server/imaging/polygon.ts.
 */
import { fillHoles, removeSmallObjects } from '../../imaging/labels.js';
import { labelsToPolygons } from '../../imaging/polygon.js';
import type { Instance, Instances, Labels2D } from '../../imaging/types.js';

/** Relabel ids > 0 to 1..n in order of first appearance (raster order), negatives to 0; in place; returns n. */
export function relabelSequential(labels: Int32Array): number {
  const map = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v <= 0) {
      labels[i] = 0;
      continue;
    }
    let m = map.get(v);
    if (m === undefined) {
      m = map.size + 1;
      map.set(v, m);
    }
    labels[i] = m;
  }
  return map.size;
}

/**
 * Sets to 0 the masks with fewer than `minSize` pixels, fills holes (background regions enclosed by a
 * single mask, see imaging/labels.ts fillHoles), then relabels 1..n. In place; returns n.
 * (Cellpose's fill_holes_and_remove_small_masks: size filter first, then hole filling.)
 */
export function fillHolesAndRemoveSmall(labels: Int32Array, H: number, W: number, minSize: number): number {
  let img: Labels2D = { height: H, width: W, data: labels };
  if (minSize > 0) img = removeSmallObjects(img, minSize);
  labels.set(fillHoles(img).data);
  return relabelSequential(labels);
}

/**
 * A sequentially labelled image (ids 1..n, 0 background) -> Instances: one polygon per id (outer pixel-edge
 * contour of the id's first 4-connected piece, imaging/polygon.ts) and score = mean of `scoreMap` (H*W)
 * over the instance's pixels (1 without a map).
 */
export function toInstances(labels: Int32Array, H: number, W: number, n: number, scoreMap?: ArrayLike<number>): Instances {
  const lab: Labels2D = { height: H, width: W, data: labels };
  const sum = new Float64Array(n + 1),
    cnt = new Int32Array(n + 1);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v > 0 && v <= n) {
      cnt[v]++;
      sum[v] += scoreMap ? scoreMap[i] : 1;
    }
  }
  const polys = labelsToPolygons(lab);
  const polygons: Instance[] = [];
  for (let id = 1; id <= n; id++) {
    if (cnt[id] === 0) continue;
    polygons.push({ id, score: sum[id] / cnt[id], points: polys.get(id) ?? [] });
  }
  return { labels: lab, polygons };
}
