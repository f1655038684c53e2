import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Image2D } from '../../../server/imaging/types.js';
import { makeTargets } from '../../../server/models/stardist/targets.js';
import { postprocess, postprocessGrid } from '../../../server/models/stardist/postprocess.js';
import { parseConfig } from '../../../server/models/stardist/config.js';
import { matching } from '../../../server/metrics/matching.js';
import { makeBlobs, rng } from '../../../scripts/synthetic.js';

const FIX = fileURLToPath(new URL('../../../../test/fixtures/stardist/targets.json', import.meta.url));

describe('models/stardist/postprocess', () => {
  // Measured: accuracy 1.000 at IoU 0.5/0.7/0.9 and mean matched IoU ~0.98 for these seeds; the bars leave
  // margin for rasterisation details while still catching any real regression.
  it('round trip postprocess(makeTargets(labels)) ~ labels on synthetic blobs (accuracy@0.5 >= 0.97)', () => {
    const config = parseConfig({});
    for (const seed of [1, 2, 3]) {
      const { labels, count } = makeBlobs({ height: 128, width: 128, count: 30, minRadius: 4, maxRadius: 9, seed });
      const t = makeTargets(labels, config);
      const maps: Image2D = { height: 128, width: 128, channels: t.targetChannels, data: t.target };
      const out = postprocess(maps, config);
      const m = matching(labels, out.labels, [0.5, 0.7]);
      expect(m[0].n_true).to.equal(count);
      expect(m[0].accuracy, `seed ${seed} accuracy@0.5`).to.be.at.least(0.97);
      expect(m[1].accuracy, `seed ${seed} accuracy@0.7`).to.be.at.least(0.95);
      expect(m[0].mean_matched_score, `seed ${seed} mean IoU`).to.be.at.least(0.95);
      expect(out.polygons.length).to.equal(m[0].n_pred);
      for (const p of out.polygons) {
        expect(p.points).to.have.length(32);
        expect(p.score).to.be.greaterThan(0.5);
      }
    }
  });

  it('postprocessGrid equals one postprocess per grid point (noisy maps, many overlapping candidates)', () => {
    const config = parseConfig({});
    const { labels } = makeBlobs({ height: 96, width: 96, count: 20, minRadius: 4, maxRadius: 10, seed: 5 });
    const t = makeTargets(labels, config);
    const r = rng(9);
    // per-object peak probability between 0.35 and 0.95 (objects drop out at different thresholds), noisy
    // probabilities and distances (many overlapping candidates per object)
    const C = t.targetChannels;
    const data = Float32Array.from(t.target, (v, i) => {
      const id = labels.data[Math.floor(i / C)];
      return i % C === 0 ? Math.min(1, v * (0.35 + 0.06 * ((id * 7) % 11)) + 0.1 * r()) : v * (0.8 + 0.4 * r());
    });
    const maps: Image2D = { height: 96, width: 96, channels: t.targetChannels, data };
    const grid = [0.3, 0.4, 0.5, 0.6, 0.7].flatMap((probThresh) => [0.3, 0.4, 0.5].map((nmsThresh) => ({ probThresh, nmsThresh })));
    const all = postprocessGrid(maps, config, grid);
    const counts = new Set<number>();
    grid.forEach((g, i) => {
      const one = postprocess(maps, config, g);
      expect(Array.from(all[i].labels.data), `labels at ${JSON.stringify(g)}`).to.deep.equal(Array.from(one.labels.data));
      expect(all[i].polygons, `polygons at ${JSON.stringify(g)}`).to.deep.equal(one.polygons);
      counts.add(one.polygons.length);
    });
    expect(counts.size, 'the grid points give different results').to.be.greaterThan(3);
  });

  it('renders like stardist polygons_to_label (ids by score, higher score painted last)', () => {
    const fx = JSON.parse(readFileSync(FIX, 'utf8'));
    const { height: H, width: W } = fx.labels;
    const n = fx.n_rays,
      C = 1 + n;
    const data = new Float32Array(H * W * C);
    fx.polygons.points.forEach(([y, x]: [number, number], i: number) => {
      const o = (y * W + x) * C;
      data[o] = fx.polygons.prob[i];
      for (let r = 0; r < n; r++) data[o + 1 + r] = fx.polygons.dist[i][r];
    });
    const out = postprocess({ height: H, width: W, channels: C, data }, { nRays: n, probThresh: 0.1, nmsThresh: 1 }, { b: 0 });
    // stardist labels = input index + 1; ours = rank by decreasing score
    const order = fx.polygons.prob.map((p: number, i: number) => [p, i]).sort((a: number[], b: number[]) => b[0] - a[0]);
    const toRef = new Map<number, number>(order.map((o: number[], rank: number) => [rank + 1, o[1] + 1]));
    let diff = 0;
    for (let i = 0; i < H * W; i++) {
      const ours = out.labels.data[i] === 0 ? 0 : (toRef.get(out.labels.data[i]) as number);
      if (ours !== fx.polygons.labels.data[i]) diff++;
    }
    expect(diff).to.equal(0);
  });

  it('suppresses overlapping candidates and respects probThresh / b', () => {
    const H = 30,
      W = 30,
      n = 8,
      C = 1 + n;
    const data = new Float32Array(H * W * C);
    const put = (y: number, x: number, p: number, d: number) => {
      data[(y * W + x) * C] = p;
      for (let r = 0; r < n; r++) data[(y * W + x) * C + 1 + r] = d;
    };
    put(10, 10, 0.9, 5);
    put(11, 10, 0.8, 5); // overlaps the first -> suppressed
    put(22, 22, 0.7, 4);
    put(1, 1, 0.99, 3); // within b = 2 of the border -> ignored
    put(22, 8, 0.4, 4); // below probThresh
    const out = postprocess({ height: H, width: W, channels: C, data }, { nRays: n, probThresh: 0.5, nmsThresh: 0.4 });
    expect(out.polygons.map((p) => p.score)).to.deep.equal([Math.fround(0.9), Math.fround(0.7)]);
    expect(out.labels.data[10 * W + 10]).to.equal(1);
    expect(out.labels.data[22 * W + 22]).to.equal(2);
    const loose = postprocess({ height: H, width: W, channels: C, data }, { nRays: n, probThresh: 0.3, nmsThresh: 0.4 }, { b: 0 });
    expect(loose.polygons.length).to.equal(4);
  });

  it('rejects maps with the wrong channel count', () => {
    expect(() => postprocess({ height: 2, width: 2, channels: 3, data: new Float32Array(12) }, parseConfig({}))).to.throw(/expected 1 \+ nRays = 33/);
  });

  // measured ~1.3 s for 6000 objects on a 2-core dev box
  it('@slow handles a 2048x2048 map in reasonable time', () => {
    const config = parseConfig({});
    const { labels } = makeBlobs({ height: 2048, width: 2048, count: 6000, minRadius: 4, maxRadius: 10, seed: 5 });
    const t = makeTargets(labels, config);
    const t0 = Date.now();
    const out = postprocess({ height: 2048, width: 2048, channels: t.targetChannels, data: t.target }, config);
    const ms = Date.now() - t0;
    expect(ms).to.be.below(30000);
    expect(matching(labels, out.labels, 0.5).accuracy).to.be.at.least(0.95);
  });
});
