/**
 * The study's figures as Vega-Lite specs with their data inline (one row per cell and metric, copied from the
 * cells' results), so the .vl.json beside each figure is both the figure's source and its data:
 * one panel per metric (IoU 0.5) against k or against the fraction of objects annotated, one colour per ordering
 * (colour-blind safe, Okabe-Ito), solid / dashed / dotted lines for with / without / scribbled background, and the
 * fully labeled model as a black dashed reference line. Pure: rendering is plot/vega.ts, writing is report.ts.
 */
import type { MatchingStats } from '../metrics/matching.js';
import type { TopLevelSpec } from '../plot/vega.js';
import { FIGURE_CONFIG } from '../plot/vega.js';
import { BG_NAME, sortCells, type CellResult, type StudySetup } from './types.js';

/** The metrics plotted, one panel each, in this order. */
export const METRICS: ReadonlyArray<[keyof MatchingStats, string]> = [
  ['f1', 'F1'],
  ['accuracy', 'accuracy'],
  ['precision', 'precision'],
  ['recall', 'recall'],
  ['panoptic_quality', 'PQ'],
];

export type FigureX = 'k' | 'fraction';

/** Figure file stems in the output folder (each written as .vl.json, .svg and .png). */
export const FIGURES: ReadonlyArray<[FigureX, string]> = [
  ['k', 'metrics-vs-k'],
  ['fraction', 'metrics-vs-fraction'],
];

/** Okabe-Ito colours per ordering; full labels are black. */
export const ORDER_COLORS: Readonly<Record<string, string>> = { minmax: '#0072B2', min: '#D55E00', max: '#009E73', random: '#CC79A7' };
const OTHER_COLOR = '#E69F00';
const FULL_COLOR = '#000000';
export const BG_DASH: Readonly<Record<string, number[]>> = { bg: [1, 0], none: [7, 4], scribble: [2, 3] };
const FULL_DASH = [10, 5];
const BG_STYLE: Readonly<Record<string, string>> = { bg: 'solid', none: 'dashed', scribble: 'dotted' };
const BG_MEANING: Readonly<Record<string, string>> = { bg: 'with background annotation', none: 'no background annotation', scribble: 'scribbled background' };
export const FULL_LABEL = 'all objects labeled';

/** One row of a figure's data: a cell's score for one metric. */
export interface FigureRow {
  cell: string;
  /** Legend entry: "<ordering>, <background>" or FULL_LABEL. */
  strategy: string;
  ordering: string;
  background: string;
  /** null for the fully labeled cell. */
  k: number | null;
  fraction_objects: number;
  fraction_pixels: number;
  metric: string;
  value: number;
}

export const strategyLabel = (c: Pick<CellResult, 'ordering' | 'bg' | 'k'>): string => (c.k === null ? FULL_LABEL : `${c.ordering}, ${BG_NAME[c.bg] ?? c.bg}`);

/** The figure's data: every cell x every metric, values exactly as in the results. */
export function figureRows(cells: CellResult[]): FigureRow[] {
  return sortCells(cells).flatMap((c) =>
    METRICS.map(([key, name]) => ({
      cell: c.id,
      strategy: strategyLabel(c),
      ordering: c.ordering,
      background: c.k === null ? 'all' : (BG_NAME[c.bg] ?? c.bg),
      k: c.k,
      fraction_objects: c.cost.fractionObjects,
      fraction_pixels: c.cost.fractionPixels,
      metric: name,
      value: c.evaluation.atIoU05[key] as number,
    })),
  );
}

const pretty = (family: string) => ({ stardist: 'StarDist-like', cellpose: 'Cellpose-like', elephant: 'ELEPHANT-like' })[family] ?? family;

const PANEL_W = 300,
  COL_GAP = 30,
  ROW_GAP = 24;
/** Height of each metric panel in SVG pixels. */
export const PANEL_HEIGHT = 210;
/** The legend sits in the empty sixth place of the 3 x 2 grid of panels (5 metrics). */
const LEGEND = { orient: 'none', legendX: 2 * (PANEL_W + COL_GAP) + 60, legendY: PANEL_HEIGHT + ROW_GAP + 70, titleLimit: 0 } as const;

/** One study figure: 5 metric panels against k or against the fraction of objects annotated. */
export function studyFigureSpec(setup: StudySetup, cells: CellResult[], x: FigureX): TopLevelSpec {
  const rows = figureRows(cells);
  const sparse = rows.filter((r) => r.k !== null);
  const strategies = [...new Set(rows.map((r) => r.strategy))].filter((s) => s !== FULL_LABEL);
  const byLabel = new Map(sortCells(cells).map((c) => [strategyLabel(c), c]));
  const hasFull = rows.some((r) => r.k === null);
  const domain = [...strategies, ...(hasFull ? [FULL_LABEL] : [])];
  const colors = domain.map((s) => (s === FULL_LABEL ? FULL_COLOR : (ORDER_COLORS[byLabel.get(s)!.ordering] ?? OTHER_COLOR)));
  const dashes = domain.map((s) => (s === FULL_LABEL ? FULL_DASH : (BG_DASH[byLabel.get(s)!.bg] ?? [1, 0])));
  const legendTitle = hasFull ? 'annotation: ordering, background' : 'annotation';
  const color = { field: 'strategy', type: 'nominal', scale: { domain, range: colors }, title: legendTitle, legend: LEGEND } as const;
  const strokeDash = { field: 'strategy', type: 'nominal', scale: { domain, range: dashes }, title: legendTitle } as const;
  const y = { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: 'score at IoU 0.5', axis: { tickCount: 5 } } as const;

  let xEnc: Record<string, unknown>;
  if (x === 'k') {
    const ks = [...new Set(sparse.map((r) => r.k as number))].sort((a, b) => a - b);
    xEnc = {
      field: 'k',
      type: 'quantitative',
      title: 'k (up to 2k objects annotated per image, log scale)',
      scale: { type: 'log', base: 2, domain: ks.length ? [ks[0] / 1.5, ks[ks.length - 1] * 1.5] : [0.5, 2] },
      axis: { values: ks, format: 'd', grid: true },
    };
  } else {
    const fr = sparse.map((r) => r.fraction_objects).filter((v) => v > 0);
    const lo = fr.length ? Math.min(...fr) / 1.5 : 0.001;
    const ticks = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].filter((t) => t >= lo);
    xEnc = {
      field: 'fraction_objects',
      type: 'quantitative',
      title: 'fraction of the training objects annotated (log scale)',
      scale: { type: 'log', domain: [lo, 1.2] },
      axis: { format: '~%', values: ticks },
    };
  }
  const th = setup.valSet?.count ? `thresholds chosen per cell on ${setup.valSet.count} validation images` : "the family's default thresholds";
  const cellS = Math.round(setup.perCellS);
  return {
    title: {
      text: `Sparse-annotation study: ${pretty(setup.family)} model, score against ${x === 'k' ? 'k' : 'the fraction of objects annotated'}`,
      subtitle: [
        `${setup.trainSet.count} training / ${setup.testSet.count} test images (${setup.testSet.split}); ${cellS} s of training per cell (backend ${setup.backend ?? '?'}); ${th}.`,
        `Colour: which objects are annotated (ordering); ${[
          ...(['bg', 'none', 'scribble'] as const)
            .filter((b) => sparse.some((r) => r.background === BG_NAME[b]))
            .map((b) => `${BG_STYLE[b]}: ${BG_MEANING[b]}`),
          ...(hasFull ? ['black dashed: every object and background pixel labeled'] : []),
        ].join('; ')}.`,
      ],
    },
    data: { values: rows as unknown as Array<Record<string, unknown>> },
    facet: { field: 'metric', type: 'nominal', sort: METRICS.map(([, n]) => n), title: null, header: { labelOrient: 'top', labelPadding: 4 } },
    columns: 3,
    spacing: { row: ROW_GAP, column: COL_GAP },
    spec: {
      width: PANEL_W,
      height: PANEL_HEIGHT,
      layer: [
        ...(hasFull
          ? [
              {
                transform: [{ filter: 'datum.k == null' }],
                mark: { type: 'rule', strokeWidth: 2 },
                encoding: { y, color, strokeDash },
              } as const,
            ]
          : []),
        {
          transform: [{ filter: 'datum.k != null' }],
          mark: { type: 'line', strokeWidth: 2.5, clip: true, point: { filled: true, size: 50 } },
          encoding: {
            x: xEnc,
            y,
            color,
            strokeDash,
            tooltip: [{ field: 'cell' }, { field: 'metric' }, { field: 'value', format: '.3f' }, { field: 'fraction_objects', format: '.2%' }],
          },
        },
      ],
    },
    resolve: { axis: { x: 'independent', y: 'independent' } },
    config: FIGURE_CONFIG,
  } as unknown as TopLevelSpec;
}
