#!/usr/bin/env node
/**
 * The `sparsecell` executable. The only module that reads process.argv / process.env; it parses the
 * subcommand and its options and hands typed options to server/cli/*. Subcommands:
 *   serve     run the daemon (default 127.0.0.1:7420, store in ~/.sparsecell)
 *   worker    a cluster compute worker: --redis redis://HOST:6379 --home DIR (the front daemon's store, shared)
            [--backend B] [--id ID] [--tf-threads INTRA[,INTER]] [--compute-nice 0-19] [--log-level L] [--models-dir DIR];
            env SPARSECELL_REDIS, _HOME, _BACKEND, _WORKER_ID, _TF_THREADS, _COMPUTE_NICE, _LOG_LEVEL, _MODELS_DIR
            (tests: _LOCK_MS, _STALLED_MS, _SLICE_MS)
  train     train a model from an images folder and a sparse-labels folder
 *   predict   predict label images for a folder of images
 *   evaluate  stardist-style matching of predicted vs ground-truth label folders
 *   study     the sparse-annotation study (which labels are worth a person's time)
 *   export    a model as a bioimage.io model package (ONNX weights) or a copy of its archive
 * Benchmarks have their own entry point (bench/run.ts, `npm run bench -- NAME`): the product never imports them.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { availableParallelism } from 'node:os';
import { resolveTfThreads } from './config.js';
import type { TensorFlowThreads } from './tensor/backend.js';
import { fileURLToPath } from 'node:url';
import { parseGcMode, relaunch, RELAUNCHED_ENV, wantsRelaunch } from './cli/relaunch.js';

const USAGE = `usage: sparsecell <command> [options]        (sparsecell <command> --help for its options)

commands:
  serve     run the daemon: [--host H] [--port P] [--home DIR] [--token T] [--backend auto|wasm|tfjs-node|tfjs-node-gpu]
            [--workers N] [--tf-threads INTRA[,INTER]] [--compute-nice 0-19] [--log-level L] [--allow-origin URL]...
            [--checkpoint-s S] [--models-dir DIR] [--redis redis://HOST:6379 (a cluster front daemon: compute on workers)]
            [--gc serial|parallel (serial: the daemon runs under node --single-threaded-gc, started again with it when
            needed, which keeps RPC quick while training fills the cores)];
            env SPARSECELL_HOST, _PORT, _HOME, _TOKEN, _BACKEND, _TF_THREADS, _COMPUTE_NICE, _LOG_LEVEL, _GC,
            _ALLOW_ORIGIN (comma-separated), _CHECKPOINT_S, _MODELS_DIR (starter models; default the package's models/)
  worker    a cluster compute worker: --redis redis://HOST:6379 --home DIR (the front daemon's store, shared)
            [--backend B] [--id ID] [--tf-threads INTRA[,INTER]] [--compute-nice 0-19] [--log-level L] [--models-dir DIR];
            env SPARSECELL_REDIS, _HOME, _BACKEND, _WORKER_ID, _TF_THREADS, _COMPUTE_NICE, _LOG_LEVEL, _MODELS_DIR
            (tests: _LOCK_MS, _STALLED_MS, _SLICE_MS)
  train     train a model from an images folder and a sparse-labels folder (same file names)
  predict   predict label images (and polygons) for a folder of images
  evaluate  stardist-style matching of predicted vs ground-truth label folders
  study     the sparse-annotation study: which labels are worth a person's time
  export    a model as a bioimage.io model package (zip with ONNX weights): --model M --out model.zip

benchmarks: npm run bench -- NAME (from a checkout)
`;

export type Flags = Record<string, string | string[] | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options']): Flags {
  const { values } = parseArgs({ args, options, allowPositionals: true, strict: true });
  return values as Flags;
}

/**
 * TensorFlow reads its thread-pool sizes from the process environment when its first context is created (in
 * a compute worker), so they are set here, before any worker starts. A worker thread's process.env is a copy
 * that never reaches getenv(), hence the main thread.
 */
function setTfThreads(t: TensorFlowThreads): TensorFlowThreads {
  if (t.intra > 0) process.env.TF_NUM_INTRAOP_THREADS = String(t.intra);
  if (t.inter > 0) process.env.TF_NUM_INTEROP_THREADS = String(t.inter);
  return t;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const env = process.env;
  // libtensorflow (tfjs-node after `npm run native`) prints C++ start-up banners unless told otherwise.
  env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const str = { type: 'string' } as const;
  switch (cmd) {
    case 'serve': {
      const f = parse(rest, {
        host: str,
        port: str,
        home: str,
        token: str,
        backend: str,
        'log-level': str,
        workers: str,
        'checkpoint-s': str,
        'models-dir': str,
        'tf-threads': str,
        'compute-nice': str,
        'allow-origin': { type: 'string', multiple: true },
        redis: str,
        gc: str,
      });
      // The daemon runs under --single-threaded-gc: started without it, serve starts itself again with it and
      // supervises (server/cli/relaunch.ts says why).
      const gc = parseGcMode((f.gc as string) ?? (env.SPARSECELL_GC || undefined));
      const supervised = env[RELAUNCHED_ENV] === '1';
      if (wantsRelaunch(gc, process.execArgv, supervised)) return relaunch(fileURLToPath(import.meta.url), ['serve', ...rest], process.execArgv, env);
      const tfThreads = setTfThreads(resolveTfThreads((f['tf-threads'] as string) ?? env.SPARSECELL_TF_THREADS, availableParallelism()));
      const origins =
        (f['allow-origin'] as string[] | undefined) ??
        env.SPARSECELL_ALLOW_ORIGIN?.split(',')
          .map((o) => o.trim())
          .filter(Boolean);
      const checkpointS = f['checkpoint-s'] ?? env.SPARSECELL_CHECKPOINT_S;
      const { serve } = await import('./cli/serve.js');
      return serve(
        {
          host: (f.host as string) ?? env.SPARSECELL_HOST,
          port: (f.port ?? env.SPARSECELL_PORT) ? Number(f.port ?? env.SPARSECELL_PORT) : undefined,
          home: (f.home as string) ?? env.SPARSECELL_HOME,
          token: (f.token as string) ?? env.SPARSECELL_TOKEN,
          backend: ((f.backend as string) ?? (env.SPARSECELL_BACKEND || undefined)) as never,
          logLevel: (f['log-level'] as string) ?? env.SPARSECELL_LOG_LEVEL,
          computeWorkers: f.workers ? Number(f.workers) : undefined,
          // serve: compute threads at nice 10 unless told otherwise (embedded daemons default to 0, see config.ts).
          computeNice: Number(f['compute-nice'] ?? env.SPARSECELL_COMPUTE_NICE ?? 10),
          tfThreads,
          allowOrigins: origins,
          checkpointS: checkpointS !== undefined ? Number(checkpointS) : undefined,
          modelsDir: (f['models-dir'] as string) ?? (env.SPARSECELL_MODELS_DIR || undefined),
          redis: (f.redis as string) ?? (env.SPARSECELL_REDIS || undefined),
        },
        { supervised },
      );
    }
    case 'worker': {
      const f = parse(rest, {
        redis: str,
        home: str,
        backend: str,
        id: str,
        'log-level': str,
        'models-dir': str,
        'tf-threads': str,
        'compute-nice': str,
      });
      const redis = (f.redis as string) ?? env.SPARSECELL_REDIS;
      const home = (f.home as string) ?? env.SPARSECELL_HOME;
      if (!redis || !home) {
        process.stderr.write("sparsecell worker: --redis URL and --home DIR (the front daemon's store) are required\n");
        return 2;
      }
      const ms = (v: string | undefined) => (v ? Number(v) : undefined);
      const { worker } = await import('./cli/worker.js');
      return worker({
        redis,
        home,
        backend: ((f.backend as string) ?? (env.SPARSECELL_BACKEND || undefined)) as never,
        workerId: (f.id as string) ?? (env.SPARSECELL_WORKER_ID || undefined),
        modelsDir: (f['models-dir'] as string) ?? (env.SPARSECELL_MODELS_DIR || undefined),
        tfThreads: setTfThreads(resolveTfThreads((f['tf-threads'] as string) ?? env.SPARSECELL_TF_THREADS, availableParallelism())),
        computeNice: Number(f['compute-nice'] ?? env.SPARSECELL_COMPUTE_NICE ?? 0),
        logLevel: (f['log-level'] as string) ?? env.SPARSECELL_LOG_LEVEL,
        lockMs: ms(env.SPARSECELL_LOCK_MS),
        stalledMs: ms(env.SPARSECELL_STALLED_MS),
        sliceMs: ms(env.SPARSECELL_SLICE_MS),
      });
    }
    case 'train':
    case 'predict':
    case 'evaluate':
    case 'study':
    case 'export': {
      // One-shot commands use every core unless told otherwise (no event loop to keep responsive).
      if (env.SPARSECELL_TF_THREADS) setTfThreads(resolveTfThreads(env.SPARSECELL_TF_THREADS, availableParallelism()));
      const mod = await import(`./cli/${cmd}.js`);
      return mod.run(rest, { backend: env.SPARSECELL_BACKEND || undefined, modelsDir: env.SPARSECELL_MODELS_DIR || undefined });
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`sparsecell: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
