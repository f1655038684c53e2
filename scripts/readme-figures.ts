/**
 * README figures from committed results (issue 13): every measured number in README.md sits between markers that
 * name the committed JSON it comes from, and `npm run readme` rewrites them; `npm run readme -- --check` (and
 * test/readme-figures.test.ts) fails when README and the JSON disagree.
 *
 * Two kinds of marker:
 *   <!-- v:FILE#/json/pointer|FORMAT -->0.843<!-- /v -->      one value (inline)
 *   <!-- table:NAME -->\n| … |\n<!-- /table:NAME -->          a generated table (TABLES below)
 * FILE is relative to the repository root (bench/results/…, models/…). FORMAT: f1 f2 f3 (decimals), pct1 (x100,
 * one decimal, "%"), int (thousands separated), ms (rounded), x2 (two decimals and "×"), s (seconds, rounded), str.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './codegen.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const cache = new Map<string, Json>();
export function load(file: string): Json {
  if (!cache.has(file)) {
    const p = join(ROOT, file);
    if (!existsSync(p)) throw new Error(`README cites ${file}, which does not exist (commit the benchmark's JSON)`);
    cache.set(file, JSON.parse(readFileSync(p, 'utf8')));
  }
  return cache.get(file);
}

/**
 * RFC 6901 JSON pointer, plus `[key=value]` segments that pick the array element whose key equals value
 * (`[k1=v1,k2=v2]`: the first element matching every pair).
 */
export function pointer(doc: Json, ptr: string): Json {
  let v = doc;
  for (const raw of ptr.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const m = /^\[([^=\]]+=[^\]]*)\]$/.exec(seg);
    if (m && Array.isArray(v)) {
      const pairs = m[1].split(',').map((p) => p.split('=') as [string, string]);
      v = v.find((e: Json) => pairs.every(([k, want]) => String(e?.[k]) === want));
    } else v = v?.[Array.isArray(v) ? Number(seg) : seg];
    if (v === undefined) throw new Error(`no value at ${ptr} (segment "${seg}")`);
  }
  return v;
}

export function format(v: Json, fmt: string): string {
  const n = Number(v);
  switch (fmt) {
    case 'f1':
      return n.toFixed(1);
    case 'f2':
      return n.toFixed(2);
    case 'f3':
      return n.toFixed(3);
    case 'pct1':
      return `${(100 * n).toFixed(1)} %`;
    case 'int':
      return Math.round(n).toLocaleString('en-US');
    case 'ms':
      return `${Math.round(n).toLocaleString('en-US')}`;
    case 'x2':
      return `${n.toFixed(2)}×`;
    case 's':
      return `${Math.round(n).toLocaleString('en-US')}`;
    case 'str':
      return String(v);
    default:
      throw new Error(`unknown format "${fmt}"`);
  }
}

export function value(spec: string): string {
  const m = /^([^#|]+)#([^|]*)\|?(.*)$/.exec(spec);
  if (!m) throw new Error(`bad value marker "${spec}" (want FILE#/pointer|FORMAT)`);
  return format(pointer(load(m[1]), m[2]), m[3] || 'str');
}

const at05 = (rows: Json[]) => rows.find((r: Json) => Math.abs(r.thresh - 0.5) < 1e-9);
const trio = (r: Json) => `${r.accuracy.toFixed(3)} / ${r.f1.toFixed(3)} / ${r.panoptic_quality.toFixed(3)}`;

/** Generated tables: NAME -> [markdown, the files it read]. */
export const TABLES: Record<string, () => { md: string; files: string[] }> = {
  /** Starter models (npm run pretrain): full labels, scores on the 50 test images. */
  starters: () => {
    const fams = ['stardist', 'cellpose', 'elephant'].filter((f) => existsSync(join(ROOT, 'models', `nuclei-${f}.json`)));
    const files = fams.map((f) => `models/nuclei-${f}.json`);
    const rows = fams.map((f) => {
      const c = load(`models/nuclei-${f}.json`);
      const s = c.scores;
      return `| \`${f}\` | ${s.accuracy05.toFixed(3)} / ${s.f1.toFixed(3)} / ${s.pq.toFixed(3)} | ${c.training.steps.toLocaleString('en-US')} | ${Math.round(c.training.seconds / 60)} min | ${c.thresholds.probThresh}${c.thresholds.nmsThresh !== undefined ? ` / ${c.thresholds.nmsThresh}` : ''} | ${(c.bytes / 2 ** 20).toFixed(1)} MB |`;
    });
    const cl = fams.length ? load(files[0]).scores.classical : undefined;
    return {
      files,
      md: [
        '| starter | accuracy / F1 / PQ at IoU 0.5 (50 test images) | steps | wall time (shared 2-core CPU, tensorflow) | thresholds (prob / NMS) | archive |',
        '|---|---|---:|---:|---|---:|',
        ...rows,
        ...(cl ? [`| classical Otsu + watershed | ${cl.accuracy05.toFixed(3)} / ${cl.f1.toFixed(3)} / ${cl.pq.toFixed(3)} | | | | |`] : []),
      ].join('\n'),
    };
  },
  /** Learning curves: test accuracy at step checkpoints of the starter runs. */
  'learning-curve': () => {
    const fams = ['stardist', 'cellpose', 'elephant'].filter((f) => existsSync(join(ROOT, 'models', `nuclei-${f}.json`)));
    const files = fams.map((f) => `models/nuclei-${f}.json`);
    const steps = [
      ...new Set(
        fams.flatMap((f) => [
          ...load(`models/nuclei-${f}.json`).training.learningCurve.map((p: Json) => p.step),
          load(`models/nuclei-${f}.json`).training.steps,
        ]),
      ),
    ].sort((a, b) => a - b);
    const cell = (f: string, step: number) => {
      const c = load(`models/nuclei-${f}.json`);
      if (step === c.training.steps) return `**${c.scores.accuracy05.toFixed(3)}**`;
      const p = c.training.learningCurve.find((q: Json) => q.step === step);
      return p ? p.accuracy05.toFixed(3) : '';
    };
    return {
      files,
      md: [
        `| steps (8 × 128²) | ${fams.map((f) => `\`${f}\``).join(' | ')} |`,
        `|---:|${fams.map(() => '---:').join('|')}|`,
        ...steps.map((s) => `| ${s.toLocaleString('en-US')} | ${fams.map((f) => cell(f, s)).join(' | ')} |`),
      ].join('\n'),
    };
  },
  /** Recipe step time per family and backend (npm run bench -- families [--backend wasm]). */
  'step-times': () => {
    const runs = ['tensorflow', 'wasm'].map((b) => [b, `bench/results/families-${b}.json`] as const).filter(([, f]) => existsSync(join(ROOT, f)));
    const fams = ['stardist', 'cellpose', 'elephant'];
    return {
      files: runs.map(([, f]) => f),
      md: [
        `| backend | ${fams.map((f) => `\`${f}\` ms/step (steps per minute)`).join(' | ')} | minutes for 1,000 StarDist-like steps |`,
        `|---|${fams.map(() => '---:').join('|')}|---:|`,
        ...runs.map(([b, f]) => {
          const d = load(f);
          return `| ${b} | ${fams
            .map((fam) => {
              const ms = d.families[fam].msPerStep;
              return `${ms.toLocaleString('en-US')} (${Math.round(60000 / ms)})`;
            })
            .join(' | ')} | ${Math.round((1000 * d.families.stardist.msPerStep) / 60000)} |`;
        }),
      ].join('\n'),
    };
  },
  'study-tensorflow': () => studyTable('bench/results/study-tensorflow/results.json'),
  /** Sparse (cellsparse minmax k = 4 + BG) per family at an equal step budget. */
  /**
   * Fine-tuning on shifted domains (npm run bench -- finetune, one JSON per shift): accuracy@0.5 of each arm per
   * budget, k = 1 and k = 4 (+ BG), scored on the 45 shifted images that were not labeled.
   */
  finetune: () => {
    const files = ['invert', 'zoom2'].map((s) => `bench/results/finetune-${s}.json`).filter((f) => existsSync(join(ROOT, f)));
    // The 480-s from-scratch arm, rerun on its own once a step count stopped being cut at 600 s of wall clock.
    const long = 'bench/results/finetune-scratch480.json';
    const longRows: Json[] = existsSync(join(ROOT, long)) ? load(long).rows : [];
    if (longRows.length) files.push(long);
    const lines = [
      '| shift | labels | zero-shot | fine-tuned 30 s / 60 s / 120 s | from scratch 30 s / 60 s / 120 s | from scratch 480 s (steps) |',
      '|---|---|---|---|---|---|',
    ];
    for (const f of files.filter((x) => x !== long)) {
      const d = load(f);
      for (const shift of d.shifts as string[])
        for (const k of d.ks as number[]) {
          const rows = (d.rows as Json[]).filter((r) => r.shift === shift && r.k === k && (r.policy ?? 'recipe') === 'recipe');
          const acc = (arm: string, b: number) => {
            const r = rows.find((x) => x.arm === arm && x.budgetS === b);
            return r ? r.accuracy05.toFixed(3) : '—';
          };
          const ft = (d.budgets as number[]).map((b) => acc('finetune', b)).join(' / ');
          const sc = (d.scratchBudgets as number[]).map((b) => acc('scratch', b)).join(' / ');
          const l = [...longRows, ...rows].find((r) => r.shift === shift && r.k === k && r.arm === 'scratch' && r.budgetS === 480);
          lines.push(`| ${shift} | minmax k = ${k} + BG | ${acc('zero-shot', 0)} | ${ft} | ${sc} | ${l ? `${l.accuracy05.toFixed(3)} (${l.steps})` : '—'} |`);
        }
    }
    return { md: lines.join('\n'), files };
  },
  /**
   * Fine-tuning with the input adaptation (bench/results/finetune-adapt.json): zero-shot, the adaptation chosen from
   * the labels (before any step), fine-tuned per budget, and from scratch for 480 s on the same labels.
   */
  'finetune-adapt': () => {
    const file = 'bench/results/finetune-adapt.json';
    const d = load(file);
    const lines = [
      '| shift | labels | zero-shot | adapted: choice (accuracy before any step) | adapted + fine-tuned 30 s / 60 s / 120 s | from scratch 480 s (steps) |',
      '|---|---|---|---|---|---|',
    ];
    for (const shift of d.shifts as string[])
      for (const k of d.ks as number[]) {
        const rows = (d.rows as Json[]).filter((r) => r.shift === shift && r.k === k && (r.policy ?? 'recipe') === 'recipe');
        const acc = (arm: string, b: number) => rows.find((x) => x.arm === arm && x.budgetS === b);
        const a = acc('adapted', 0);
        const choice = a ? `scale ${a.adapt.scale}${a.adapt.invert ? ', inverted' : ''} (${a.accuracy05.toFixed(3)})` : '—';
        const ft = (d.budgets as number[]).map((b) => acc('finetune', b)?.accuracy05.toFixed(3) ?? '—').join(' / ');
        const l = acc('scratch', 480);
        lines.push(
          `| ${shift} | minmax k = ${k} + BG | ${acc('zero-shot', 0)?.accuracy05.toFixed(3) ?? '—'} | ${choice} | ${ft} | ${l ? `${l.accuracy05.toFixed(3)} (${l.steps})` : '—'} |`,
        );
      }
    return { md: lines.join('\n'), files: [file] };
  },
  /** The fine-tuning policy comparison (bench/results/finetune-policy.json): accuracy@0.5 per policy and budget. */
  'finetune-policy': () => {
    const file = 'bench/results/finetune-policy.json';
    const d = load(file);
    const names: Record<string, string> = {
      recipe: 'gentle: 3e-4 → 1e-4, 20 warm-up steps, encoder frozen 30 steps',
      'scratch-lr': 'from-scratch rates: 1e-3 → 2e-4 (now the recipe)',
    };
    const lines = [`| policy | ${(d.shifts as string[]).flatMap((s) => (d.budgets as number[]).map((b) => `${s} ${b} s`)).join(' | ')} |`];
    lines.push(`|---|${(d.shifts as string[]).flatMap(() => (d.budgets as number[]).map(() => '---')).join('|')}|`);
    const zs = (d.shifts as string[]).flatMap((s) =>
      (d.budgets as number[]).map(() => (d.rows as Json[]).find((r) => r.shift === s && r.arm === 'zero-shot').accuracy05.toFixed(3)),
    );
    lines.push(`| zero-shot (no training) | ${zs.join(' | ')} |`);
    for (const p of Object.keys(d.policies)) {
      const cells = (d.shifts as string[]).flatMap((s) =>
        (d.budgets as number[]).map((b) =>
          (d.rows as Json[]).find((r) => r.shift === s && r.arm === 'finetune' && r.policy === p && r.budgetS === b).accuracy05.toFixed(3),
        ),
      );
      lines.push(`| ${names[p] ?? p} | ${cells.join(' | ')} |`);
    }
    return { md: lines.join('\n'), files: [file] };
  },
  'sparse-families': () => {
    const runs: Array<[string, string]> = [
      ['stardist', 'bench/results/quality-stardist-minmax-k4-bg-500steps-tensorflow.json'],
      ['cellpose', 'bench/results/quality-cellpose-minmax-k4-bg-500steps-tensorflow.json'],
      ['elephant (class shares, default)', 'bench/results/quality-elephant-minmax-k4-bg-500steps-tensorflow.json'],
      ["elephant (ELEPHANT's 1/10/10 weights)", 'bench/results/quality-elephant-minmax-k4-bg-balance-weights-500steps-tensorflow.json'],
    ];
    const present = runs.filter(([, f]) => existsSync(join(ROOT, f)));
    return {
      files: present.map(([, f]) => f),
      md: [
        '| family | accuracy / F1 / PQ at IoU 0.5 | predicted / true objects | thresholds chosen on validation |',
        '|---|---|---|---|',
        ...present.map(([name, f]) => {
          const r = load(f),
            L = at05(r.learned);
          return `| \`${name}\` | ${trio(L)} | ${L.n_pred.toLocaleString('en-US')} / ${L.n_true.toLocaleString('en-US')} | ${r.postprocess.probThresh ?? '—'}${r.postprocess.nmsThresh !== undefined ? ` / ${r.postprocess.nmsThresh}` : ''} |`;
        }),
      ].join('\n'),
    };
  },
};

/** The study table (minmax k with / without background, and full labels) of one committed study run. */
function studyTable(file: string): { md: string; files: string[] } {
  const d = load(file);
  const cell = (id: string) => d.cells.find((c: Json) => c.id === id);
  const f1At = (c: Json, t: number) => c.evaluation.curve.find((r: Json) => Math.abs(r.thresh - t) < 1e-9).f1.toFixed(3);
  const ks = [...new Set(d.cells.filter((c: Json) => c.ordering === 'minmax').map((c: Json) => c.k))].sort((a: any, b: any) => a - b) as number[];
  const full = cell('full');
  const nTrue = full.evaluation.atIoU05.n_true;
  const rows = ks.map((k) => {
    const bg = cell(`minmax-k${k}-bg`),
      none = cell(`minmax-k${k}-none`);
    return `| ${k} | ${(100 * bg.cost.fractionObjects).toFixed(1)} % | ${f1At(bg, 0.5)} | ${f1At(none, 0.5)} | ${f1At(bg, 0.1)} | ${f1At(none, 0.1)} | ${bg.evaluation.atIoU05.n_pred} vs ${none.evaluation.atIoU05.n_pred} / ${nTrue} | ${bg.evaluation.defaultThresholdsAtIoU05.f1.toFixed(3)} vs ${none.evaluation.defaultThresholdsAtIoU05.f1.toFixed(3)} |`;
  });
  return {
    files: [file],
    md: [
      '| minmax k | objects annotated | F1@0.5 with BG | F1@0.5 no BG | F1@0.1 with BG | F1@0.1 no BG | predicted / true objects, with BG vs no BG | F1@0.5 at default thresholds, with BG vs no BG |',
      '|---:|---:|---:|---:|---:|---:|---|---|',
      ...rows,
      `| full labels | 100 % | ${f1At(full, 0.5)} | | ${f1At(full, 0.1)} | | ${full.evaluation.atIoU05.n_pred} / ${nTrue} | ${full.evaluation.defaultThresholdsAtIoU05.f1.toFixed(3)} |`,
    ].join('\n'),
  };
}

export function render(readme: string): string {
  const tables = readme.replace(
    /(<!-- table:([\w-]+) -->\n)([\s\S]*?)(\n<!-- \/table:\2 -->)/g,
    (_all, open: string, name: string, _old: string, close: string) => {
      const t = TABLES[name];
      if (!t) throw new Error(`README names an unknown table "${name}"`);
      return open + t().md + close;
    },
  );
  return tables.replace(
    /(<!-- v:([^ ]+) -->)([^<]*)(<!-- \/v -->)/g,
    (_all, open: string, spec: string, _old: string, close: string) => open + value(spec) + close,
  );
}

/** Every results file README cites. */
export function citedFiles(readme: string): string[] {
  const files = new Set<string>();
  for (const m of readme.matchAll(/<!-- v:([^#]+)#/g)) files.add(m[1]);
  for (const m of readme.matchAll(/<!-- table:([\w-]+) -->/g)) for (const f of TABLES[m[1]]?.().files ?? []) files.add(f);
  return [...files].sort();
}

if (process.argv[1]?.endsWith('readme-figures.js')) {
  const path = join(ROOT, 'README.md');
  const before = readFileSync(path, 'utf8');
  const after = render(before);
  if (process.argv.includes('--check')) {
    if (after !== before) {
      process.stderr.write('README.md figures differ from the committed results: run `npm run readme`\n');
      process.exitCode = 1;
    }
  } else if (after !== before) {
    writeFileSync(path, after);
    process.stdout.write(`README.md: figures regenerated from ${citedFiles(after).length} results files\n`);
  } else process.stdout.write('README.md: figures are current\n');
}
