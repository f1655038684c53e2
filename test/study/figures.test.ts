import { expect } from 'chai';
import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../../scripts/codegen.js';
import { PNG_SCALE, renderFigure, renderSvg, type TopLevelSpec } from '../../server/plot/vega.js';
import { BG_DASH, FIGURES, FULL_LABEL, METRICS, ORDER_COLORS, PANEL_HEIGHT, figureRows, studyFigureSpec } from '../../server/study/figures.js';
import type { CellResult, StudySetup } from '../../server/study/types.js';
import { liveFigureSpec } from '../../bench/live.js';
import { expectDrawnPng, expectFigureFiles, expectPointsAtValues, svgSize } from './figure-checks.js';

const STUDIES = ['bench/results/study-tensorflow', 'bench/results/study'];
const load = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, 'results.json'), 'utf8')) as { setup: StudySetup; cells: CellResult[] };

/** A synthetic study result: every ordering x background at k 1, 4, 16, plus full, with distinct made-up scores. */
function syntheticStudy(): { setup: StudySetup; cells: CellResult[] } {
  const cells: CellResult[] = [];
  const stats = (v: number) =>
    ({
      criterion: 'iou',
      thresh: 0.5,
      fp: 1,
      tp: 2,
      fn: 3,
      precision: v,
      recall: v * 0.9,
      accuracy: v * 0.8,
      f1: v * 0.95,
      n_true: 5,
      n_pred: 3,
      mean_true_score: 0.5,
      mean_matched_score: 0.6,
      panoptic_quality: v * 0.7,
    }) as CellResult['evaluation']['atIoU05'];
  const cell = (id: string, ordering: string, k: number | null, bg: string, frac: number, v: number): CellResult => ({
    id,
    ordering,
    k,
    bg,
    cost: {
      objectsKept: 1,
      objectsTotal: 2,
      pixelsLabeled: 3,
      objectPixelsLabeled: 2,
      backgroundPixelsLabeled: 1,
      pixelsTotal: 9,
      fractionObjects: frac,
      fractionPixels: frac / 2,
    },
    training: { steps: 10, loss: 0.5, stoppedBy: 'time', seconds: 1, timeLimitS: 1, images: 2 },
    evaluation: { images: 1, seconds: 1, atIoU05: stats(v), curve: [], thresholds: { chosenOn: 'family defaults' } },
    fingerprint: {} as CellResult['fingerprint'],
    finishedAt: '2026-01-01T00:00:00Z',
  });
  cells.push(cell('full', 'full', null, 'full', 1, 0.9));
  ['minmax', 'min', 'max', 'random'].forEach((o, i) =>
    ['bg', 'none', 'scribble'].forEach((bg, j) =>
      [1, 4, 16].forEach((k, l) => {
        cells.push(cell(`${o}-k${k}-${bg}`, o, k, bg, 0.02 * (l + 1) ** 2, 0.3 + 0.1 * i + 0.05 * j + 0.04 * l));
      }),
    ),
  );
  const setup = {
    family: 'stardist',
    grid: 'all',
    cells: cells.map((c) => c.id),
    budgetS: 10,
    perCellS: 1,
    seed: 1,
    config: {},
    train: {},
    backend: 'wasm',
    trainSet: { images: 'i', masks: 'm', count: 2 },
    testSet: { images: 'i', masks: 'm', count: 1, split: 'test' },
    valSet: { count: 0, rule: 'none' },
  } as StudySetup;
  return { setup, cells };
}

describe('study figures: Vega-Lite specs from the results', function () {
  this.timeout(60000);

  it('carry every cell x metric of results.json as inline data, with x = k or the fraction of objects', () => {
    const { setup, cells } = load(STUDIES[0]);
    expect(cells.length).to.equal(11);
    for (const [x] of FIGURES) {
      const spec = studyFigureSpec(setup, cells, x) as unknown as { data: { values: Array<Record<string, unknown>> }; spec: unknown };
      const rows = spec.data.values;
      expect(rows).to.have.length(11 * METRICS.length);
      for (const c of cells)
        for (const [key, name] of METRICS) {
          const r = rows.filter((row) => row.cell === c.id && row.metric === name);
          expect(r).to.have.length(1);
          expect(r[0].value).to.equal(c.evaluation.atIoU05[key]);
          expect(r[0].k).to.equal(c.k);
          expect(r[0].fraction_objects).to.equal(c.cost.fractionObjects);
          expect(r[0].strategy).to.equal(c.k === null ? FULL_LABEL : `minmax, ${c.bg === 'bg' ? 'with BG' : 'no BG'}`);
        }
      expect(new Set(rows.map((r) => r.value)).size, 'distinct values').to.be.greaterThan(40);
      expect(JSON.stringify(spec.spec)).to.contain(x === 'k' ? '"field":"k"' : '"field":"fraction_objects"');
    }
    expect(figureRows(cells)).to.deep.equal((studyFigureSpec(setup, cells, 'k') as unknown as { data: { values: unknown } }).data.values);
  });

  it('give each ordering its own colour and each background variant its own dash; full labels black', () => {
    const { setup, cells } = syntheticStudy();
    type Enc = Record<string, { scale: { domain: string[]; range: unknown[] } }>;
    const spec = studyFigureSpec(setup, cells, 'k') as unknown as { spec: { layer: Array<{ mark: { type: string }; encoding: Enc }> } };
    const lines = spec.spec.layer.find((l) => l.mark.type === 'line')!.encoding;
    const rule = spec.spec.layer.find((l) => l.mark.type === 'rule')!.encoding;
    expect(rule.color).to.deep.equal(lines.color); // one legend for lines and the full-label rule
    const scale = (channel: string) => lines[channel].scale;
    const color = scale('color'),
      dash = scale('strokeDash');
    expect(color.domain).to.have.length(13);
    expect(color.domain[color.domain.length - 1]).to.equal(FULL_LABEL);
    expect(color.range[color.range.length - 1]).to.equal('#000000');
    for (const [i, s] of color.domain.entries()) {
      if (s === FULL_LABEL) continue;
      const [ordering, bg] = s.split(', ');
      expect(color.range[i], s).to.equal(ORDER_COLORS[ordering]);
      expect(dash.range[i], s).to.deep.equal(BG_DASH[{ 'with BG': 'bg', 'no BG': 'none', 'scribble BG': 'scribble' }[bg]!]);
    }
    expect(new Set(color.range).size).to.equal(5);
    expect(new Set(dash.range.map((d) => JSON.stringify(d))).size).to.equal(4);
  });

  it('are valid against the official Vega-Lite JSON schema', () => {
    const require = createRequire(import.meta.url);
    const schema = JSON.parse(readFileSync(require.resolve('vega-lite/vega-lite-schema.json'), 'utf8'));
    const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
    const { setup, cells } = load(STUDIES[0]);
    for (const [x] of FIGURES) {
      const ok = validate(JSON.parse(JSON.stringify(studyFigureSpec(setup, cells, x))));
      expect(ok, JSON.stringify(validate.errors?.slice(0, 3))).to.equal(true);
    }
    expect(validate({ mark: 'line', encoding: { x: { field: 'k', type: 'quantity' } } }), 'a wrong spec is refused').to.equal(false);
  });

  it('render to SVG (axis titles, legend) and PNG (right size, every ordering colour, title glyphs)', async () => {
    const { setup, cells } = syntheticStudy();
    const fig = await renderFigure(studyFigureSpec(setup, cells, 'fraction'));
    expect(fig.svg.startsWith('<svg')).to.equal(true);
    expect(svgSize(fig.svg)).to.deep.equal({ width: fig.width, height: fig.height });
    expect(fig.width).to.be.within(900, 2000);
    for (const t of [
      'score at IoU 0.5',
      'fraction of the training objects annotated',
      'random, scribble BG',
      'minmax, with BG',
      FULL_LABEL,
      'accuracy',
      'Sparse-annotation study',
    ])
      expect(fig.svg, t).to.contain(t);
    expect(fig.svg.match(/<path[^>]*stroke="#0072B2"/g)?.length ?? 0, 'minmax line paths').to.be.greaterThan(5);
    expectPointsAtValues(fig.svg, cells, PANEL_HEIGHT);
    expect(fig.pngWidth).to.equal(Math.ceil(fig.width * PNG_SCALE));
    expectDrawnPng(fig.png, fig.width, fig.height, Object.values(ORDER_COLORS));
  });

  it('fail on a spec vega-lite warns about instead of drawing half a figure', async () => {
    const bad = {
      data: { values: [{ a: 1, b: 2 }] },
      mark: 'line',
      encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' }, theta: { field: 'a', type: 'quantitative' } },
    } as TopLevelSpec;
    let err: Error | undefined;
    try {
      await renderSvg(bad);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/vega-lite: warning: theta dropped/);
    const good = { ...bad, encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } } } as TopLevelSpec;
    expect((await renderSvg(good)).svg).to.contain('<svg');
  });

  it("lay text out with the font's real widths, not a per-character guess", async () => {
    const labelled = (label: string) =>
      ({
        data: { values: [{ a: label, b: 1 }] },
        mark: 'bar',
        encoding: { y: { field: 'a', type: 'nominal', axis: { labelLimit: 0 } }, x: { field: 'b', type: 'quantitative' } },
      }) as TopLevelSpec;
    const wide = await renderSvg(labelled('M'.repeat(20))),
      narrow = await renderSvg(labelled('i'.repeat(20)));
    // DejaVu Sans at 11 px: 'M' is 9.5 px wide, 'i' 3.1 px, so 20 of each differ by about 128 px
    expect(wide.width - narrow.width).to.be.within(100, 160);
    const { setup, cells } = load(STUDIES[0]);
    expect((await renderSvg(studyFigureSpec(setup, cells, 'k'))).width, 'study figure width').to.be.within(1000, 1250);
  });

  it('draw the live bench figure (F1 over annotation time per session) from its traces', async () => {
    const traces = [0, 1, 2].map((s) => ({ f1: Array.from({ length: 8 }, (_, i) => [i * 2.5 + s, Math.min(1, 0.1 * i + 0.05 * s)] as [number, number]) }));
    const fig = await renderFigure(liveFigureSpec(traces, { edits: 8, pace: 2.5, image: '10ba6cbee4873b32d5626a118a339832' }));
    const rows = (fig.spec as unknown as { data: { values: Array<{ session: string; timeS: number; f1: number }> } }).data.values;
    expect(rows).to.have.length(24);
    expect(rows.filter((r) => r.session === '2 sessions: #2').map((r) => r.f1)).to.deep.equal(traces[2].f1.map(([, f]) => f));
    for (const t of ['annotation time (s)', 'F1 at IoU 0.5', '1 session', '2 sessions: #1']) expect(fig.svg, t).to.contain(t);
    expectDrawnPng(fig.png, fig.width, fig.height, ['#000000', '#0072B2', '#D55E00']);
  });

  for (const dir of STUDIES)
    it(`committed figures of ${dir} are current: data = its results.json, SVG and PNG drawn`, () => expectFigureFiles(join(ROOT, dir)));
});
