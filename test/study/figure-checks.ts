/**
 * Checks shared by the figure tests: a figure's .vl.json carries exactly the study's results, its SVG and PNG exist,
 * and the PNG (decoded by pngjs, an independent decoder) has the SVG's size at PNG_SCALE and is really drawn.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { PNG_SCALE } from '../../server/plot/vega.js';
import { FIGURES, METRICS, ORDER_COLORS, PANEL_HEIGHT } from '../../server/study/figures.js';
import type { CellResult } from '../../server/study/types.js';

export interface PngSummary {
  width: number;
  height: number;
  /** Share of pixels that are not (near) white. */
  inked: number;
  /** Pixels within a small distance of an RGB colour given as #rrggbb. */
  near(hex: string, tol?: number): number;
  /** Dark pixels (all channels < 90) in rows [y0, y1) of the image. */
  darkInRows(y0: number, y1: number): number;
}

export function decodePng(bytes: Uint8Array): PngSummary {
  const png = PNG.sync.read(Buffer.from(bytes));
  const { width, height, data } = png;
  expect(data.length).to.equal(width * height * 4);
  let inked = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] < 235 || data[i + 1] < 235 || data[i + 2] < 235) inked++;
  return {
    width,
    height,
    inked: inked / (width * height),
    near(hex, tol = 24) {
      const [r, g, b] = [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - r) <= tol && Math.abs(data[i + 1] - g) <= tol && Math.abs(data[i + 2] - b) <= tol) n++;
      return n;
    },
    darkInRows(y0, y1) {
      let n = 0;
      for (let i = y0 * width * 4; i < Math.min(y1, height) * width * 4; i += 4) if (data[i] < 90 && data[i + 1] < 90 && data[i + 2] < 90) n++;
      return n;
    },
  };
}

/** SVG size from its root element. */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  expect(m, 'svg root with width and height').to.not.equal(null);
  return { width: Number(m![1]), height: Number(m![2]) };
}

/**
 * The SVG draws every sparse cell x metric as a point of its ordering's colour at the height of its value (panels
 * are `panelHeight` px tall, y from 0 to 1), and the fully labeled cell as one black rule per panel at its value.
 * Vega writes each point's description (from the encodings) into its aria-label, which names the cell and metric.
 */
export function expectPointsAtValues(svg: string, cells: CellResult[], panelHeight: number): void {
  const points = [
    ...svg.matchAll(
      /<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="point" transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*fill="(#[0-9A-Fa-f]{6})"/g,
    ),
  ].map((m) => ({ label: m[1], y: Number(m[3]), fill: m[4] }));
  const sparse = cells.filter((c) => c.k !== null);
  expect(points, 'points drawn').to.have.length(sparse.length * METRICS.length);
  for (const c of sparse)
    for (const [key, name] of METRICS) {
      const p = points.filter((q) => q.label.includes(`cell: ${c.id}; metric: ${name};`));
      expect(p, `point of ${c.id} ${name}`).to.have.length(1);
      expect(p[0].fill, `${c.id} colour`).to.equal(ORDER_COLORS[c.ordering]);
      expect(p[0].y, `${c.id} ${name} height`).to.be.closeTo((1 - (c.evaluation.atIoU05[key] as number)) * panelHeight, 0.01);
    }
  const full = cells.find((c) => c.k === null);
  if (!full) return;
  const rules = [
    ...svg.matchAll(
      /<line aria-label="[^"]*" role="graphics-symbol" aria-roledescription="rule mark" transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*stroke="(#[0-9A-Fa-f]{6})"/g,
    ),
  ].map((m) => ({ y: Number(m[2]), stroke: m[3] }));
  expect(rules.map((r) => r.stroke)).to.deep.equal(METRICS.map(() => '#000000'));
  expect(rules.map((r) => r.y).sort((a, b) => a - b)).to.deep.equal(
    METRICS.map(([key]) => (1 - (full.evaluation.atIoU05[key] as number)) * panelHeight)
      .sort((a, b) => a - b)
      .map((y) => closeTo(y, rules)),
  );
}

/** The element of `rules` whose y is within 0.01 of `y` (so deep.equal compares what was found), else y itself. */
const closeTo = (y: number, rules: Array<{ y: number }>) => rules.find((r) => Math.abs(r.y - y) < 0.01)?.y ?? y;

/** PNG checks for a rendered figure of `svgWidth` x `svgHeight` whose series use `colors`. */
export function expectDrawnPng(bytes: Uint8Array, svgWidth: number, svgHeight: number, colors: string[]): PngSummary {
  const p = decodePng(bytes);
  expect(p.width).to.equal(Math.ceil(svgWidth * PNG_SCALE));
  expect(p.height).to.equal(Math.ceil(svgHeight * PNG_SCALE));
  expect(p.inked, 'share of inked pixels').to.be.within(0.02, 0.6);
  for (const c of colors) expect(p.near(c), `pixels of ${c}`).to.be.greaterThan(100);
  // The title sits alone in the top rows: dark pixels there are glyphs, so the embedded font was used.
  expect(p.darkInRows(0, 30 * PNG_SCALE), 'title glyphs').to.be.greaterThan(400);
  return p;
}

/** The figures in a study folder: data = results.json, axis and legend text in the SVG, PNG drawn. */
export function expectFigureFiles(dir: string): void {
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { cells: CellResult[] };
  expect(results.cells.length).to.be.greaterThan(0);
  for (const [x, stem] of FIGURES) {
    const spec = JSON.parse(readFileSync(join(dir, `${stem}.vl.json`), 'utf8'));
    const rows = spec.data.values as Array<Record<string, unknown>>;
    expect(rows, `${stem} rows`).to.have.length(results.cells.length * METRICS.length);
    for (const c of results.cells)
      for (const [key, name] of METRICS) {
        const row = rows.filter((r) => r.cell === c.id && r.metric === name);
        expect(row, `${stem} ${c.id} ${name}`).to.have.length(1);
        expect(row[0].value, `${stem} ${c.id} ${name}`).to.equal(c.evaluation.atIoU05[key]);
        expect(row[0].k).to.equal(c.k);
        expect(row[0].fraction_objects).to.equal(c.cost.fractionObjects);
      }
    expect(JSON.stringify(spec.spec)).to.contain(x === 'k' ? '"field":"k"' : '"field":"fraction_objects"');
    const svg = readFileSync(join(dir, `${stem}.svg`), 'utf8');
    for (const text of ['score at IoU 0.5', 'F1', 'PQ', x === 'k' ? 'k (up to 2k' : 'fraction of the training objects']) expect(svg, text).to.contain(text);
    expectPointsAtValues(svg, results.cells, PANEL_HEIGHT);
    const { width, height } = svgSize(svg);
    const orderings = [...new Set(results.cells.filter((c) => c.k !== null).map((c) => c.ordering))];
    expectDrawnPng(
      new Uint8Array(readFileSync(join(dir, `${stem}.png`))),
      width,
      height,
      orderings.map((o) => ORDER_COLORS[o]),
    );
  }
}
