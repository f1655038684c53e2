/**
 * A tiny raster plotter for the study's figures: an RGB canvas, thick (dashed) lines, markers, a built-in 5x7
 * bitmap font, and line charts with axes, ticks, grid, reference lines and a shared legend. Pure (no fs, no tfjs);
 * encode the canvas with png.ts.
 */
export type RGB = readonly [number, number, number];

export const COLORS = Object.freeze({
  white: [255, 255, 255] as RGB,
  black: [0, 0, 0] as RGB,
  grey: [120, 120, 120] as RGB,
  grid: [225, 225, 225] as RGB,
  blue: [31, 119, 180] as RGB,
  orange: [255, 127, 14] as RGB,
  green: [44, 160, 44] as RGB,
  red: [214, 39, 40] as RGB,
  purple: [148, 103, 189] as RGB,
  brown: [140, 86, 75] as RGB,
});

/** 5x7 glyphs: 7 rows, 2 hex digits each (bit 4 = leftmost column). Unknown characters draw as '?'. */
const FONT: Record<string, string> = {
  ' ': '00000000000000', '0': '0E11131519110E', '1': '040C040404040E', '2': '0E11010204081F', '3': '1F02040201110E',
  '4': '02060A121F0202', '5': '1F101E0101110E', '6': '0608101E11110E', '7': '1F010204080808', '8': '0E11110E11110E',
  '9': '0E11110F01020C', A: '0E11111F111111', B: '1E11111E11111E', C: '0E11101010110E', D: '1C12111111121C',
  E: '1F10101E10101F', F: '1F10101E101010', G: '0E11101711110F', H: '1111111F111111', I: '0E04040404040E',
  J: '0702020202120C', K: '11121418141211', L: '1010101010101F', M: '111B1515111111', N: '11111915131111',
  O: '0E11111111110E', P: '1E11111E101010', Q: '0E11111115120D', R: '1E11111E141211', S: '0F10100E01011E',
  T: '1F040404040404', U: '1111111111110E', V: '11111111110A04', W: '1111111515150A', X: '11110A040A1111',
  Y: '1111110A040404', Z: '1F01020408101F', a: '00000E010F110F', b: '1010161911111E', c: '00000E1010110E',
  d: '01010D1311110F', e: '00000E111F100E', f: '0609081C080808', g: '000F11110F010E', h: '10101619111111',
  i: '04000C0404040E', j: '0200060202120C', k: '10101214181412', l: '0C04040404040E', m: '00001A15151111',
  n: '00001619111111', o: '00000E1111110E', p: '00001E111E1010', q: '00000D130F0101', r: '00001619101010',
  s: '00000E100E011E', t: '08081C08080906', u: '0000111111130D', v: '00001111110A04', w: '0000111115150A',
  x: '0000110A040A11', y: '000011110F010E', z: '00001F0204081F', '.': '00000000000C0C', ',': '000000000C0408',
  '-': '0000001F000000', _: '0000000000001F', '(': '02040808080402', ')': '08040202020408', '%': '18190204081303',
  '/': '00010204081000', ':': '000C0C000C0C00', '=': '00001F001F0000', '+': '0004041F040400', '<': '02040810080402',
  '>': '08040201020408', '[': '0E08080808080E', ']': '0E02020202020E', '*': '0004150E150400', '#': '0A0A1F0A1F0A0A',
  '?': '0E110102040004', '|': '04040404040404', "'": '04040800000000', '~': '00000815020000',
};

const GLYPHS: Record<string, number[]> = Object.fromEntries(
  Object.entries(FONT).map(([ch, hex]) => {
    return [ch, Array.from({ length: 7 }, (_, r) => parseInt(hex.slice(2 * r, 2 * r + 2), 16))];
  }),
);

export class Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, bg: RGB = COLORS.white) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(bg, i * 3);
  }

  set(x: number, y: number, c: RGB): void {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.data.set(c, (y * this.width + x) * 3);
  }

  rect(x: number, y: number, w: number, h: number, c: RGB): void {
    for (let yy = Math.round(y); yy < Math.round(y + h); yy++) for (let xx = Math.round(x); xx < Math.round(x + w); xx++) this.set(xx, yy, c);
  }

  /** Square brush of side `width` centred on (x, y). */
  dot(x: number, y: number, width: number, c: RGB): void {
    const r = (width - 1) / 2;
    for (let dy = -r; dy <= r + 1e-9; dy++) for (let dx = -r; dx <= r + 1e-9; dx++) this.set(x + dx, y + dy, c);
  }

  /**
   * A polyline of thickness `width`, with an optional dash pattern [on, off, ...] in pixels along the path.
   * Returns the dash phase at the end (so consecutive calls can continue a pattern).
   */
  polyline(pts: Array<[number, number]>, c: RGB, width = 1, dash?: readonly number[], phase = 0): number {
    const period = dash?.length ? dash.reduce((a, b) => a + b, 0) : 0;
    const on = (s: number) => {
      if (!period) return true;
      let t = ((s % period) + period) % period;
      for (let i = 0; i < dash!.length; i++) {
        if (t < dash![i]) return i % 2 === 0;
        t -= dash![i];
      }
      return true;
    };
    let s = phase;
    for (let i = 0; i + 1 < pts.length; i++) {
      const [x0, y0] = pts[i], [x1, y1] = pts[i + 1];
      const len = Math.hypot(x1 - x0, y1 - y0);
      const n = Math.max(1, Math.ceil(len * 3));
      for (let k = 0; k <= n; k++) {
        const t = k / n;
        if (on(s + t * len)) this.dot(x0 + t * (x1 - x0), y0 + t * (y1 - y0), width, c);
      }
      s += len;
    }
    return s;
  }

  line(x0: number, y0: number, x1: number, y1: number, c: RGB, width = 1, dash?: readonly number[]): void {
    this.polyline([[x0, y0], [x1, y1]], c, width, dash);
  }

  /** Text with the 5x7 font at integer `scale`; (x, y) is the top-left; `vertical` draws it rotated 90° CCW (bottom-up). */
  text(str: string, x: number, y: number, c: RGB, scale = 1, vertical = false): void {
    let pen = 0;
    for (const ch of str) {
      const g = GLYPHS[ch] ?? GLYPHS['?'];
      for (let r = 0; r < 7; r++)
        for (let col = 0; col < 5; col++) {
          if (!((g[r] >> (4 - col)) & 1)) continue;
          for (let sy = 0; sy < scale; sy++)
            for (let sx = 0; sx < scale; sx++) {
              const gx = (pen + col) * scale + sx, gy = r * scale + sy;
              if (vertical) this.set(x + gy, y - gx, c);
              else this.set(x + gx, y + gy, c);
            }
        }
      pen += 6;
    }
  }
}

export function textWidth(str: string, scale = 1): number {
  const n = [...str].length;
  return n ? (n * 6 - 1) * scale : 0;
}
export const textHeight = (scale = 1) => 7 * scale;

export interface Series {
  label: string;
  color: RGB;
  dash?: readonly number[];
  /** [x, y]; points with a non-finite coordinate are skipped. */
  points: Array<[number, number]>;
}

export interface RefLine {
  label: string;
  y: number;
  color: RGB;
  dash?: readonly number[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** log10 x axis (all x > 0). */
  xLog?: boolean;
  xMin?: number;
  xMax?: number;
  xTicks?: number[];
  xTickLabels?: string[];
  yMin?: number;
  yMax?: number;
  yTicks?: number[];
  series: Series[];
  refLines?: RefLine[];
}

export interface LegendItem {
  label: string;
  color: RGB;
  dash?: readonly number[];
  /** Draw a marker on the sample line. */
  marker?: boolean;
}

const fmtTick = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0).replace('e', 'E') : String(Number(v.toPrecision(3))));

/** Draw one chart into the box (x0, y0, w, h) of the canvas. */
export function drawChart(cv: Canvas, x0: number, y0: number, w: number, h: number, spec: ChartSpec, scale = 2): void {
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.xLog || x > 0));
  const xs = pts.map((p) => p[0]);
  let xMin = spec.xMin ?? (xs.length ? Math.min(...xs) : spec.xLog ? 0.1 : 0);
  let xMax = spec.xMax ?? (xs.length ? Math.max(...xs) : 1);
  if (spec.xLog && !(xMin > 0)) xMin = xMax > 0 ? xMax / 1000 : 0.1;
  if (spec.xLog && !(xMax > 0)) xMax = xMin * 1000;
  if (xMax <= xMin) { xMin = spec.xLog ? xMin / 2 : xMin - 1; xMax = spec.xLog ? xMax * 2 : xMax + 1; }
  const yMin = spec.yMin ?? 0, yMax = spec.yMax ?? 1;
  const th = textHeight(scale);
  const left = x0 + th * 2 + 6 + textWidth('0.00', scale), right = x0 + w - 10;
  const top = y0 + th + 14, bottom = y0 + h - th * 2 - 24;
  const tx = (x: number) => {
    const u = spec.xLog ? (Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin)) : (x - xMin) / (xMax - xMin);
    return left + u * (right - left);
  };
  const ty = (y: number) => bottom - ((y - yMin) / (yMax - yMin)) * (bottom - top);
  // Title.
  cv.text(spec.title, x0 + (w - textWidth(spec.title, scale)) / 2, y0 + 4, COLORS.black, scale);
  // Grid and ticks.
  const yTicks = spec.yTicks ?? Array.from({ length: 6 }, (_, i) => yMin + (i * (yMax - yMin)) / 5);
  for (const v of yTicks) {
    const py = Math.round(ty(v));
    cv.line(left, py, right, py, COLORS.grid);
    cv.line(left - 4, py, left, py, COLORS.black);
    const lab = fmtTick(v);
    cv.text(lab, left - 7 - textWidth(lab, scale), py - th / 2, COLORS.black, scale);
  }
  let xTicks = spec.xTicks;
  if (!xTicks) {
    if (spec.xLog) {
      xTicks = [];
      const e0 = Math.floor(Math.log10(xMin)), e1 = Math.min(Math.ceil(Math.log10(xMax)), e0 + 30);
      const mult = e1 - e0 <= 2 ? [1, 2, 5] : [1];
      for (let e = e0; e <= e1; e++)
        for (const m of mult) {
          const v = Number((m * 10 ** e).toPrecision(6));
          if (v >= xMin * 0.999 && v <= xMax * 1.001) xTicks.push(v);
        }
    } else xTicks = Array.from({ length: 6 }, (_, i) => xMin + (i * (xMax - xMin)) / 5);
  }
  xTicks.forEach((v, i) => {
    const px = Math.round(tx(v));
    cv.line(px, top, px, bottom, COLORS.grid);
    cv.line(px, bottom, px, bottom + 4, COLORS.black);
    const lab = spec.xTickLabels?.[i] ?? fmtTick(v);
    cv.text(lab, px - textWidth(lab, scale) / 2, bottom + 7, COLORS.black, scale);
  });
  // Axes.
  cv.line(left, top, left, bottom, COLORS.black);
  cv.line(left, bottom, right, bottom, COLORS.black);
  cv.text(spec.xLabel, (left + right - textWidth(spec.xLabel, scale)) / 2, bottom + th + 12, COLORS.black, scale);
  cv.text(spec.yLabel, x0 + 2, (top + bottom + textWidth(spec.yLabel, scale)) / 2, COLORS.black, scale, true);
  // Reference lines, then series (clipped to the plot box by construction: values are clamped).
  const clampY = (y: number) => Math.min(bottom, Math.max(top, y));
  for (const r of spec.refLines ?? []) {
    if (!Number.isFinite(r.y)) continue;
    const py = clampY(ty(r.y));
    cv.line(left + 1, py, right, py, r.color, 2, r.dash ?? [8, 5]);
  }
  for (const s of spec.series) {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.xLog || x > 0))
      .sort((a, b) => a[0] - b[0])
      .map(([x, y]) => [tx(x), clampY(ty(y))] as [number, number]);
    cv.polyline(p, s.color, 2, s.dash);
    for (const [x, y] of p) cv.dot(x, y, 5, s.color);
  }
}

/** Draw a legend (one column) at (x, y); returns its height. */
export function drawLegend(cv: Canvas, x: number, y: number, items: LegendItem[], scale = 2): number {
  const th = textHeight(scale), rowH = th + 8;
  items.forEach((it, i) => {
    const cy = y + i * rowH + th / 2;
    cv.line(x, cy, x + 36, cy, it.color, 2, it.dash);
    if (it.marker) cv.dot(x + 18, cy, 5, it.color);
    cv.text(it.label, x + 44, cy - th / 2, COLORS.black, scale);
  });
  return items.length * rowH;
}

export interface FigureOptions {
  title?: string;
  cols?: number;
  panelWidth?: number;
  panelHeight?: number;
  legend?: LegendItem[];
  scale?: number;
}

/** A figure of chart panels on a grid with an optional title and a legend in its own column on the right. */
export function renderFigure(charts: ChartSpec[], opts: FigureOptions = {}): Canvas {
  const scale = opts.scale ?? 2;
  const cols = Math.max(1, Math.min(opts.cols ?? 3, charts.length));
  const rows = Math.ceil(charts.length / cols);
  const pw = opts.panelWidth ?? 440, ph = opts.panelHeight ?? 330;
  const legend = opts.legend ?? [];
  const legendW = legend.length ? 60 + Math.max(...legend.map((l) => textWidth(l.label, scale))) : 0;
  const titleH = opts.title ? textHeight(scale) + 24 : 0;
  const legendH = legend.length * (textHeight(scale) + 8);
  const height = Math.max(titleH + rows * ph, titleH + legendH + 20);
  const cv = new Canvas(cols * pw + legendW + 10, height);
  if (opts.title) cv.text(opts.title, 10, 8, COLORS.black, scale);
  charts.forEach((c, i) => drawChart(cv, (i % cols) * pw, titleH + Math.floor(i / cols) * ph, pw, ph, c, scale));
  if (legend.length) drawLegend(cv, cols * pw + 10, titleH + 20, legend, scale);
  return cv;
}
