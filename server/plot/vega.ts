/**
 * Figures from Vega-Lite specs, headless: vega-lite compiles the spec to Vega, vega's View renders it to SVG
 * (renderer 'none', View.toSVG), and resvg rasterises the SVG to PNG. Text is set in DejaVu Sans from the npm
 * package dejavu-fonts-ttf (system fonts are not loaded), so a figure renders the same on every machine and nothing
 * is downloaded. Without a canvas, vega would guess text widths (0.8 em a character) and lay out legends and axis
 * titles far too wide; vega's textMetrics.width hook is set to measure each string with resvg in that font instead
 * (the way vl-convert does). Any warning from vega-lite or vega fails the render: a spec that only half works is a bug.
 * No fs here: the caller writes the bytes (storage/). vega, vega-lite and resvg load on first use, so commands that
 * draw no figure do not pay for them.
 */
import { createRequire } from 'node:module';
import type { TopLevelSpec } from 'vega-lite';

export type { TopLevelSpec } from 'vega-lite';

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** The font family every figure uses (config.font); the only font resvg loads. */
export const PLOT_FONT = 'DejaVu Sans';
/** PNG pixels per SVG pixel (print resolution for a figure about 1100 px wide). */
export const PNG_SCALE = 2;

let fontFiles: string[] | undefined;
/** Paths of the regular and bold DejaVu Sans files of the npm package (resolved on first use). */
function fonts(): string[] {
  if (!fontFiles) {
    const require = createRequire(import.meta.url);
    fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`));
  }
  return fontFiles;
}

export interface RenderedFigure {
  /** The spec as rendered (with $schema). */
  spec: TopLevelSpec;
  svg: string;
  /** The SVG's own size in pixels. */
  width: number;
  height: number;
  png: Uint8Array;
  pngWidth: number;
  pngHeight: number;
}

/** A vega-util logger that keeps warnings and errors so the caller can fail on them. */
function collectingLogger(into: string[]) {
  let level = 2;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]) {
      into.push(`error: ${args.map(String).join(' ')}`);
      return logger;
    },
    warn(...args: unknown[]) {
      into.push(`warning: ${args.map(String).join(' ')}`);
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger;
}

type ResvgModule = typeof import('@resvg/resvg-js');
const xmlEscape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const widthCache = new Map<string, number>();

/** Width in pixels of `text` set in the figure font as vega's text item would set it (the ink's extent, measured by resvg). */
function measureText(resvg: ResvgModule, item: { fontSize?: number; fontWeight?: string | number; fontStyle?: string }, text: unknown): number {
  if (Array.isArray(text)) return Math.max(0, ...text.map((t) => measureText(resvg, item, t)));
  const str = text === undefined || text === null ? '' : String(text);
  const size = item.fontSize ?? 11;
  if (!str.trim() || !(size > 0)) return 0;
  const weight = item.fontWeight ?? 'normal',
    style = item.fontStyle ?? 'normal';
  const key = `${size}|${weight}|${style}|${str}`;
  let w = widthCache.get(key);
  if (w === undefined) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text x="0" y="${size}" font-family="${PLOT_FONT}" font-size="${size}" font-weight="${weight}" font-style="${style}" xml:space="preserve">${xmlEscape(str)}</text></svg>`;
    const r = new resvg.Resvg(svg, { font: { loadSystemFonts: false, fontFiles: fonts(), defaultFontFamily: PLOT_FONT } });
    w = r.getBBox()?.width ?? 0;
    if (widthCache.size > 10000) widthCache.clear();
    widthCache.set(key, w);
  }
  return w;
}

/** Vega-Lite spec -> SVG text (throws on any vega-lite or vega warning). */
export async function renderSvg(spec: TopLevelSpec): Promise<{ svg: string; width: number; height: number }> {
  const [vl, vega, resvg] = await Promise.all([import('vega-lite'), import('vega'), import('@resvg/resvg-js')]);
  (vega as unknown as { textMetrics: { width: (item: object, text: unknown) => number } }).textMetrics.width = (item, text) => measureText(resvg, item, text);
  const problems: string[] = [];
  const logger = collectingLogger(problems);
  const compiled = vl.compile(spec, { logger: logger as never }).spec;
  if (problems.length) throw new Error(`vega-lite: ${problems.join('; ')}`);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger: logger as never, logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    if (problems.length) throw new Error(`vega: ${problems.join('; ')}`);
    const m = /^<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
    if (!m) throw new Error('vega: the SVG has no width/height');
    return { svg, width: Number(m[1]), height: Number(m[2]) };
  } finally {
    view.finalize();
  }
}

/** SVG text -> PNG bytes at `scale` pixels per SVG pixel, on white, off the event loop (resvg's thread pool). */
export async function svgToPng(svg: string, scale = PNG_SCALE): Promise<{ png: Uint8Array; width: number; height: number }> {
  const { renderAsync } = await import('@resvg/resvg-js');
  const img = await renderAsync(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles: fonts(), defaultFontFamily: PLOT_FONT, sansSerifFamily: PLOT_FONT },
  });
  return { png: new Uint8Array(img.asPng()), width: img.width, height: img.height };
}

/** Render a spec to SVG and PNG. */
export async function renderFigure(spec: TopLevelSpec, scale = PNG_SCALE): Promise<RenderedFigure> {
  const full = { $schema: VEGA_LITE_SCHEMA, ...spec } as TopLevelSpec;
  const { svg, width, height } = await renderSvg(full);
  const { png, width: pngWidth, height: pngHeight } = await svgToPng(svg, scale);
  return { spec: full, svg, width, height, png, pngWidth, pngHeight };
}

/** The base config of every figure: the embedded font, readable sizes, stroke legends. */
export const FIGURE_CONFIG = Object.freeze({
  font: PLOT_FONT,
  background: 'white',
  padding: 12,
  title: { fontSize: 15, subtitleFontSize: 12, subtitleColor: '#333', anchor: 'start' as const, offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, gridColor: '#e4e4e4', domainColor: '#444', tickColor: '#444' },
  header: { labelFontSize: 13, labelFontWeight: 'bold' as const, titleFontSize: 13 },
  legend: { labelFontSize: 12, titleFontSize: 12, symbolType: 'stroke', symbolSize: 500, symbolStrokeWidth: 2.5, labelLimit: 400 },
  view: { stroke: '#bbb' },
});
