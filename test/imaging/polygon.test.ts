import { expect } from 'chai';
import type { Labels2D, Polygon } from '../../server/imaging/types.js';
import {
  labelsToPolygons,
  paintPolygon,
  pointInPolygon,
  polygonArea,
  polygonIntersectionArea,
  polygonIou,
  rasterizePolygon,
  starPolygon,
  traceContour,
} from '../../server/imaging/polygon.js';
import { makeBlobs } from '../../scripts/synthetic.js';

const square = (y0: number, x0: number, s: number): Polygon => [
  [y0, x0],
  [y0, x0 + s],
  [y0 + s, x0 + s],
  [y0 + s, x0],
];

describe('imaging/polygon', () => {
  it('area (shoelace) of squares and a star polygon', () => {
    expect(polygonArea(square(1, 2, 3))).to.equal(9);
    const circle = starPolygon(10, 10, new Array(64).fill(5));
    expect(polygonArea(circle)).to.be.closeTo(0.5 * 64 * 25 * Math.sin((2 * Math.PI) / 64), 1e-9);
  });

  it('star polygon vertex convention: ray 0 along +x, ray n/4 along +y', () => {
    const p = starPolygon(5, 7, [2, 3, 4, 5]);
    expect(p[0][0]).to.be.closeTo(5, 1e-12);
    expect(p[0][1]).to.be.closeTo(9, 1e-12);
    expect(p[1][0]).to.be.closeTo(8, 1e-12);
    expect(p[1][1]).to.be.closeTo(7, 1e-12);
  });

  it('rasterises by pixel centres (PNPOLY), clipped to the image', () => {
    const idx = rasterizePolygon(square(0.5, 0.5, 2), 5, 5);
    expect(Array.from(idx)).to.deep.equal([6, 7, 11, 12]);
    expect(rasterizePolygon(square(-3.5, -3.5, 5), 4, 4).length).to.equal(4);
    const poly = starPolygon(6.3, 7.1, [4, 5, 3, 4.5, 2, 5, 3.5, 4]);
    const ras = new Set(rasterizePolygon(poly, 14, 14));
    for (let y = 0; y < 14; y++) for (let x = 0; x < 14; x++) expect(ras.has(y * 14 + x)).to.equal(pointInPolygon(y, x, poly));
  });

  it('exact intersection area and IoU', () => {
    expect(polygonIntersectionArea(square(0, 0, 4), square(2, 2, 4))).to.be.closeTo(4, 1e-12);
    expect(polygonIou(square(0, 0, 4), square(2, 2, 4))).to.be.closeTo(4 / 28, 1e-12);
    expect(polygonIou(square(0, 0, 4), square(10, 10, 1))).to.equal(0);
    // rotated square (diamond) inside a square: area 2*r^2
    const diamond: Polygon = [
      [0, 2],
      [2, 4],
      [4, 2],
      [2, 0],
    ];
    expect(polygonIntersectionArea(square(0, 0, 4), diamond)).to.be.closeTo(8, 1e-12);
    expect(polygonIntersectionArea(square(0, 0, 2), diamond)).to.be.closeTo(2, 1e-12);
    // star polygons vs fine rasterisation
    const a = starPolygon(20, 20, [9, 12, 7, 10, 8, 11, 6, 9]);
    const b = starPolygon(24, 26, [8, 6, 9, 7, 10, 5, 8, 6]);
    const exact = polygonIntersectionArea(a, b);
    let n = 0;
    const s = 8;
    for (let y = 0; y < 40 * s; y++)
      for (let x = 0; x < 40 * s; x++) {
        const py = (y + 0.5) / s,
          px = (x + 0.5) / s;
        if (pointInPolygon(py, px, a) && pointInPolygon(py, px, b)) n++;
      }
    expect(exact).to.be.closeTo(n / (s * s), 0.5);
  });

  it('traced contours rasterise back to the same pixels', () => {
    const { labels } = makeBlobs({ height: 48, width: 48, count: 10, seed: 4 });
    const polys = labelsToPolygons(labels);
    expect(polys.size).to.be.greaterThan(5);
    const out: Labels2D = { height: 48, width: 48, data: new Int32Array(48 * 48) };
    for (const [id, p] of polys) {
      expect(polygonArea(p)).to.be.greaterThan(0);
      paintPolygon(out, p, id);
    }
    expect(Array.from(out.data)).to.deep.equal(Array.from(labels.data));
  });

  it('traces one pixel, an L shape, and a component from an inner start', () => {
    expect(traceContour([1], 1, 1)).to.deep.equal([
      [-0.5, -0.5],
      [-0.5, 0.5],
      [0.5, 0.5],
      [0.5, -0.5],
    ]);
    const L = [1, 0, 1, 0, 1, 1];
    const p = traceContour(L, 3, 2);
    expect(polygonArea(p)).to.equal(4);
    expect(p).to.have.length(6);
    const ring = [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1];
    const pr = traceContour(ring, 3, 4, 9);
    expect(polygonArea(pr)).to.equal(12); // outer contour: the hole is not traced
    expect(traceContour([0, 0], 1, 2)).to.deep.equal([]);
  });
});

describe('imaging: labelsToPolygons on split instances', () => {
  it('outlines the largest piece of an instance split in two', async () => {
    const { labelsToPolygons, rasterizePolygon } = await import('../../server/imaging/polygon.js');
    const H = 10,
      W = 10;
    const data = new Int32Array(H * W);
    data[0] = 5; // a 1-pixel fragment first in raster order
    for (let y = 4; y < 8; y++) for (let x = 3; x < 8; x++) data[y * W + x] = 5; // the body (20 px)
    const poly = labelsToPolygons({ height: H, width: W, data }).get(5)!;
    const inside = rasterizePolygon(poly, H, W);
    expect(inside.length).to.equal(20);
    expect(inside[0]).to.equal(4 * W + 3);
  });
});
