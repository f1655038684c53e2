#!/usr/bin/env python3
"""Reference numbers for sparsecell's metrics and StarDist targets, written to test/fixtures/.

How the reference was produced
------------------------------
Run once, by hand, with the REAL stardist package (no TensorFlow needed for these modules):

    pip install stardist==0.9.2      # pulls numpy, scipy, scikit-image, numba, csbdeep (no tensorflow)
    python3 scripts/make-matching-fixtures.py

Versions used for the committed fixtures: stardist 0.9.2, numpy 2.4.6, scipy 1.17.1, scikit-image 0.26.0
(recorded in each JSON file under "generator").

* test/fixtures/matching/matching.json      stardist.matching.matching on hand-made and seeded random cases,
                                            thresholds 0.1..0.9, criteria iou/iot/iop.
* test/fixtures/matching/dataset.json       stardist.matching.matching_dataset over those cases
                                            (by_image False and True).
* test/fixtures/matching/sparse.json        sparsecell's OWN sparse-aware definition (see
                                            server/metrics/matching.ts, matchingSparse); stardist has no such
                                            function, so `sparse_reference` below implements the definition
                                            independently on dense numpy arrays, using scipy's
                                            linear_sum_assignment with stardist's cost matrix.
* test/fixtures/stardist/targets.json       stardist.geometry.star_dist (cpp) and stardist.utils.edt_prob on
                                            a small label image, and stardist.geometry.polygons_to_label of a
                                            few star polygons (rasterisation rule check).

The label images are small (<= 64x64) and stored as flat row-major int lists.
"""
import json
import os

import numpy as np
import scipy
import skimage
import stardist
from scipy.optimize import linear_sum_assignment
from stardist.matching import matching, matching_dataset
from stardist.geometry import star_dist, polygons_to_label
from stardist.utils import edt_prob

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
KEYS = ['criterion', 'thresh', 'fp', 'tp', 'fn', 'precision', 'recall', 'accuracy', 'f1', 'n_true', 'n_pred',
        'mean_true_score', 'mean_matched_score', 'panoptic_quality']
GENERATOR = dict(stardist=stardist.__version__, numpy=np.__version__, scipy=scipy.__version__,
                 skimage=skimage.__version__, script='scripts/make-matching-fixtures.py')


def tojson(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return v


def stats_dict(m):
    d = m._asdict()
    return {k: tojson(d[k]) for k in d if k in KEYS + ['by_image']}


def ellipse(shape, cy, cx, a, b, th=0.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    c, s = np.cos(th), np.sin(th)
    u = ((xx - cx) * c + (yy - cy) * s) / a
    v = (-(xx - cx) * s + (yy - cy) * c) / b
    return u * u + v * v <= 1


def random_blobs(rng, shape, n, rmin=3, rmax=7):
    lbl = np.zeros(shape, np.int32)
    k = 0
    for _ in range(n * 30):
        if k >= n:
            break
        a, b = rng.uniform(rmin, rmax, 2)
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        m = ellipse(shape, cy, cx, a, b, rng.uniform(0, np.pi))
        if m.sum() < 3 or (lbl[m] > 0).any():
            continue
        k += 1
        lbl[m] = k
    return lbl


def perturb(rng, gt):
    """Prediction-like label image: shifted/grown/shrunk objects, some dropped, some merged, some extra."""
    pred = np.zeros_like(gt)
    ids = [i for i in np.unique(gt) if i > 0]
    nid = 1
    from scipy.ndimage import binary_dilation, binary_erosion, shift
    for i in ids:
        m = gt == i
        r = rng.uniform()
        if r < 0.12:
            continue                       # missed
        if r < 0.3:
            m = binary_dilation(m, iterations=int(rng.integers(1, 3)))
        elif r < 0.45:
            e = binary_erosion(m)
            m = e if e.sum() > 0 else m
        if rng.uniform() < 0.5:
            m = shift(m.astype(np.uint8), (rng.integers(-2, 3), rng.integers(-2, 3)), order=0) > 0
        pred[m & (pred == 0)] = nid
        nid += 1
    extra = random_blobs(rng, gt.shape, 3, 2, 4)
    for i in range(1, extra.max() + 1):
        m = (extra == i) & (pred == 0)
        if m.any():
            pred[m] = nid
            nid += 1
    # shuffle / spread the ids (non-sequential, large)
    perm = rng.permutation(nid - 1) * 7 + 3
    out = np.zeros_like(pred)
    out[pred > 0] = perm[pred[pred > 0] - 1]
    return out


def hand_cases():
    cases = []
    # stardist's docstring example
    yt = np.zeros((30, 30), np.int32)
    yt[10:20, 10:20] = 1
    cases.append(('docstring_shift5', yt, np.roll(yt, 5, axis=0)))
    # IoU exactly 7/10 (float32 0.699999988 < 0.7) and exactly 1/2
    yt = np.zeros((8, 12), np.int32)
    yt[1, 0:10] = 1
    yp = np.zeros_like(yt)
    yp[1, 0:7] = 4
    yt[4, 0:8] = 2
    yp[4, 0:4] = 9
    cases.append(('iou_exact_0.7_and_0.5', yt, yp))
    # greedy != optimal: pred 1 overlaps both gt objects
    yt = np.zeros((10, 20), np.int32)
    yt[2:8, 1:9] = 1
    yt[2:8, 11:19] = 2
    yp = np.zeros_like(yt)
    yp[2:8, 4:13] = 1
    yp[2:8, 13:19] = 2
    yp[2:8, 1:4] = 3
    cases.append(('ambiguous', yt, yp))
    # empty cases
    yt = np.zeros((6, 6), np.int32)
    yt[1:4, 1:4] = 5
    cases.append(('empty_pred', yt, np.zeros_like(yt)))
    cases.append(('empty_true', np.zeros_like(yt), yt))
    cases.append(('both_empty', np.zeros_like(yt), np.zeros_like(yt)))
    # identical with non-sequential ids
    yt = np.zeros((12, 12), np.int32)
    yt[0:5, 0:5] = 17
    yt[6:12, 6:12] = 3
    yt[0:4, 7:12] = 1000
    cases.append(('identical_nonsequential', yt, yt.copy() * 2))
    return cases


def sparse_reference(yt, yp, thr, criterion='iou', ignore_fraction=0.5):
    """Independent dense implementation of sparsecell's matchingSparse definition."""
    labeled = yt >= 0
    tids = [i for i in np.unique(yt) if i > 0]
    pids = [i for i in np.unique(yp) if i > 0]
    nt, np_ = len(tids), len(pids)
    inter = np.zeros((nt, np_))
    for a, t in enumerate(tids):
        for b, p in enumerate(pids):
            inter[a, b] = np.count_nonzero((yt == t) & (yp == p))
    area_t = np.array([np.count_nonzero(yt == t) for t in tids], float)
    area_p = np.array([np.count_nonzero((yp == p) & labeled) for p in pids], float)
    if criterion == 'iou':
        den = area_t[:, None] + area_p[None, :] - inter
    elif criterion == 'iot':
        den = np.broadcast_to(area_t[:, None], inter.shape)
    else:
        den = np.broadcast_to(area_p[None, :], inter.shape)
    scores = np.zeros(inter.shape, np.float32)
    np.divide(inter, den, out=scores, where=den > 1e-10)
    n_matched = min(nt, np_)
    tp, sum_matched = 0, 0.0
    matched = np.zeros(np_, bool)
    if n_matched > 0:
        costs = -(scores >= thr).astype(float) - scores / (2 * n_matched)
        ti, pi = linear_sum_assignment(costs)
        ok = scores[ti, pi] >= thr
        tp = int(np.count_nonzero(ok))
        sum_matched = float(np.sum(scores[ti, pi][ok].astype(np.float64)))
        matched[pi[ok]] = True
    ignored = 0
    for b, p in enumerate(pids):
        m = yp == p
        if not matched[b] and np.count_nonzero(m & ~labeled) / np.count_nonzero(m) >= ignore_fraction:
            ignored += 1
    n_pred = np_ - ignored
    fp, fn = n_pred - tp, nt - tp
    sd = lambda x, y: x / y if abs(y) > 1e-10 else 0.0
    return dict(criterion=criterion, thresh=thr, fp=fp, tp=tp, fn=fn,
                precision=tp / (tp + fp) if tp > 0 else 0, recall=tp / (tp + fn) if tp > 0 else 0,
                accuracy=tp / (tp + fp + fn) if tp > 0 else 0, f1=2 * tp / (2 * tp + fp + fn) if tp > 0 else 0,
                n_true=nt, n_pred=n_pred, mean_true_score=sd(sum_matched, nt),
                mean_matched_score=sd(sum_matched, tp), panoptic_quality=sd(sum_matched, tp + fp / 2 + fn / 2),
                n_ignored=ignored)


def enc(a):
    return dict(height=int(a.shape[0]), width=int(a.shape[1]), data=[int(v) for v in a.ravel()])


def main():
    rng = np.random.default_rng(20240611)
    cases = hand_cases()
    for k in range(6):
        shape = (48, 64) if k % 2 else (64, 48)
        gt = random_blobs(rng, shape, 14)
        cases.append((f'random_{k}', gt, perturb(rng, gt)))

    out = []
    for name, yt, yp in cases:
        entry = dict(name=name, y_true=enc(yt), y_pred=enc(yp), results={})
        for crit in ('iou', 'iot', 'iop'):
            entry['results'][crit] = [stats_dict(m) for m in matching(yt, yp, thresh=THRESHOLDS, criterion=crit)]
        out.append(entry)
    write('matching/matching.json', dict(generator=GENERATOR, thresholds=THRESHOLDS, cases=out))

    ds = {}
    for by_image in (False, True):
        res = matching_dataset([c[1] for c in cases], [c[2] for c in cases], thresh=THRESHOLDS,
                               criterion='iou', by_image=by_image, show_progress=False)
        ds['by_image' if by_image else 'pooled'] = [stats_dict(m) for m in res]
    write('matching/dataset.json', dict(generator=GENERATOR, thresholds=THRESHOLDS,
                                        cases=[c[0] for c in cases], results=ds))

    # sparse: make gt sparse (drop some objects to -1, mark part of the background -1)
    sparse = []
    for name, yt, yp in cases[-4:]:
        g = yt.copy()
        ids = [i for i in np.unique(g) if i > 0]
        for i in ids[::3]:
            g[g == i] = -1
        h, w = g.shape
        g[(g == 0) & (np.arange(w)[None, :] > w * 0.6)] = -1
        entry = dict(name=name + '_sparse', y_true=enc(g), y_pred=enc(yp), results={})
        for frac in (0.5, 1.0):
            entry['results'][str(frac)] = [
                {k: tojson(v) for k, v in sparse_reference(g, yp, t, 'iou', frac).items()} for t in THRESHOLDS]
        sparse.append(entry)
    write('matching/sparse.json', dict(generator=GENERATOR, thresholds=THRESHOLDS, cases=sparse))

    # targets: star_dist + edt_prob
    lbl = np.zeros((40, 44), np.uint16)
    lbl[ellipse(lbl.shape, 12, 12, 8, 5, 0.4)] = 3
    lbl[ellipse(lbl.shape, 28, 30, 6, 9, 1.2)] = 7
    lbl[ellipse(lbl.shape, 30, 10, 4, 4)] = 1
    lbl[ellipse(lbl.shape, 2, 40, 6, 4)] = 2          # cut by the border
    lbl[10:14, 30:34] = 5                              # square
    lbl[ellipse(lbl.shape, 12, 12, 2, 2)] = 3         # (no-op, same id)
    n_rays = 32
    dist = star_dist(lbl, n_rays, mode='cpp')
    prob = edt_prob(lbl)
    # polygons_to_label on a few star polygons (rasterisation rule)
    prs = np.random.default_rng(5)
    points = np.array([[12, 12], [28, 30], [30, 10], [20, 22]])
    pdist = prs.uniform(2.5, 9.0, (len(points), n_rays)).astype(np.float32)
    pprob = np.array([0.9, 0.8, 0.7, 0.95])
    plbl = polygons_to_label(pdist, points, shape=lbl.shape, prob=pprob)
    write('stardist/targets.json', dict(
        generator=GENERATOR, n_rays=n_rays, labels=enc(lbl.astype(np.int32)),
        star_dist=[round(float(v), 4) for v in dist.ravel()], edt_prob=[round(float(v), 6) for v in prob.ravel()],
        polygons=dict(points=points.tolist(), dist=[[float(v) for v in r] for r in pdist], prob=pprob.tolist(),
                      labels=enc(plbl))))


def write(rel, obj):
    path = os.path.join(ROOT, 'test', 'fixtures', rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', os.path.relpath(path, ROOT), os.path.getsize(path), 'bytes')


if __name__ == '__main__':
    main()
