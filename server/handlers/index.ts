/** Thin adapters: validated params -> session / model-service calls -> results. One entry per protocol method. */
import { RpcError, invalidParams } from '../errors.js';
import type { ServerConfig } from '../config.js';
import type { MethodName } from '../../protocol/src/methods.js';
import { PROTOCOL_VERSION } from '../../protocol/src/index.js';
import { buildOpenRpc } from '../../protocol/src/openrpc.js';
import { decodeNdArrayAsync, encodeNdArray, type DecodeLimits, type TypedArray } from '../../protocol/src/ndarray.js';
import type { Axes, FamilyName, NdArray } from '../../protocol/src/types.js';
import { checkFamilyConfig, familyDivisor } from '../models/configs.js';
import { recipeForClients } from '../recipe.js';
import type { StarterModel } from '../../protocol/src/types.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { ModelService } from '../sessions/model-service.js';
import { spatialShape } from '../sessions/session.js';
import type { WireLabels } from '../storage/store.js';
import type { LabelValues } from '../sessions/label-layer.js';
import type { Handler } from './context.js';
import { decodeImageTiff } from './tiff-image.js';
import type { PatchInflater } from './patch-inflater.js';

export interface HandlerDeps {
  sessions: SessionManager;
  models: ModelService;
  config: ServerConfig;
  version: string;
  families: string[];
  /** Inflates painted patches off the event loop's isolate (see patch-inflater.ts); without it they inflate here. */
  inflater?: PatchInflater;
}

function inferAxes(shape: number[]): Axes {
  if (shape.length === 2) return 'YX';
  if (shape.length === 3) return shape[2] <= 4 && shape[0] > 4 ? 'YXC' : 'ZYX';
  throw new RpcError('ShapeMismatch', `cannot infer axes for a ${shape.length}-D image; pass axes`, [
    { path: '/image/shape', message: 'expected 2 or 3 dimensions' },
  ]);
}

function checkAxes(shape: number[], axes: Axes): void {
  const nd = axes.length;
  if (shape.length !== nd)
    throw new RpcError('ShapeMismatch', `image has ${shape.length} dimensions but axes "${axes}" has ${nd}`, [
      { path: '/axes', message: `expected ${shape.length} axes` },
    ]);
  if (shape.some((d) => d < 1)) throw new RpcError('ShapeMismatch', 'image dimensions must be >= 1', [{ path: '/image/shape', message: 'zero dimension' }]);
  if (axes === 'YXC' && shape[2] > 16)
    throw new RpcError('ShapeMismatch', `YXC image with ${shape[2]} channels; at most 16`, [{ path: '/image/shape/2', message: 'too many channels' }]);
}

/**
 * Validate a label NdArray: its values as sent plus the offset that makes them signed (offset1: v - 1). Unsigned
 * dtypes cannot go below the minimum, so only int16/int32 are scanned; nothing is copied.
 */
async function decodeLabels(
  a: NdArray,
  encoding: 'signed' | 'offset1',
  maxElements: number,
  inflate?: DecodeLimits['inflate'],
): Promise<{ data: LabelValues; offset: number; shape: number[] }> {
  if (a.dtype === 'float32')
    throw new RpcError('InvalidLabels', 'labels must have an integer dtype (uint8, uint16, int16, int32), not float32', [
      { path: '/labels/dtype', message: 'float32 not allowed for labels' },
    ]);
  const { data, shape } = await decodeNd(a, maxElements, '/labels', inflate);
  const offset = encoding === 'offset1' ? 1 : 0;
  const min = encoding === 'offset1' ? 0 : -1;
  if (data instanceof Int16Array || data instanceof Int32Array) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min)
        throw new RpcError('InvalidLabels', `label value ${v} at element ${i} is not allowed in ${encoding} form (minimum ${min})`, [
          { path: '/labels/data', message: `value ${v} < ${min}` },
        ]);
    }
  }
  return { data: data as LabelValues, offset, shape };
}

/** Signed int32 labels (the journal's form when the wire payload was not deflated). */
function toSigned(data: LabelValues, offset: number): Int32Array {
  if (data instanceof Int32Array && offset === 0) return data;
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] - offset;
  return out;
}

async function decodeNd(a: NdArray, maxElements: number, path: string, inflate?: DecodeLimits['inflate']): Promise<{ data: TypedArray; shape: number[] }> {
  try {
    return await decodeNdArrayAsync(a, { maxElements, path, inflate });
  } catch (e) {
    const err = e as Error & { path?: string; reason?: string };
    if (err.reason === 'limit') throw new RpcError('ResourceLimit', err.message, [{ path: err.path ?? path, message: err.message }]);
    if (err.reason === 'data' || err.reason === 'shape') throw new RpcError('ShapeMismatch', err.message, [{ path: err.path ?? path, message: err.message }]);
    throw e;
  }
}

/** Refuse a patch side that the network cannot take (a multiple of grid * 2^unetDepth) with -32602 naming it. */
function assertPatchSize(family: FamilyName, config: unknown, patchSize: number | undefined): void {
  if (patchSize === undefined) return;
  const d = familyDivisor(family, config ?? {});
  if (patchSize % d !== 0) {
    const c = (config ?? {}) as { grid?: unknown };
    const why = c.grid !== undefined && c.grid !== 1 ? `grid ${String(c.grid)} x 2^unetDepth` : '2^unetDepth';
    throw invalidParams([{ path: '/options/patchSize', message: `patchSize ${patchSize} must be a multiple of ${d} (${why})` }], 'invalid training options');
  }
}

/** Refuse a family config with -32602 naming /config/<field> before anything is stored. */
function assertConfig(family: FamilyName, config: unknown): void {
  const bad = checkFamilyConfig(family, config ?? {});
  if (bad) throw invalidParams([{ path: bad.field ? `/config/${bad.field}` : '/config', message: bad.message }], 'invalid family config');
}

export function createHandlers(deps: HandlerDeps): Record<MethodName, Handler> {
  const { sessions, models, config } = deps;
  const limits = {
    maxMessageBytes: config.maxMessageBytes,
    maxArrayElements: config.maxArrayElements,
    maxSessions: config.maxSessions,
    maxBatch: config.maxBatch,
    maxImagesPerSession: config.maxImagesPerSession,
    maxObjects: config.maxObjects,
  };
  const openrpc = buildOpenRpc(deps.version);
  const starterModels: StarterModel[] = sessions.starters.list().map(({ card }) => ({
    name: card.name,
    family: card.family,
    description: card.description,
    scores: {
      accuracy05: card.scores.accuracy05,
      f1: card.scores.f1,
      pq: card.scores.pq,
      ...(Number.isInteger(card.data?.testImages) ? { testImages: card.data!.testImages! } : {}),
    },
  }));

  return {
    'server.info': (_p, ctx) => ({
      name: 'sparsecell',
      version: deps.version,
      protocolVersion: PROTOCOL_VERSION,
      backend: models.backendInfo(),
      limits,
      families: deps.families,
      starterModels,
      recipe: recipeForClients(),
      // The store path tells a web page or a stranger about this machine: only token holders get it.
      ...(ctx.authenticated ? { home: config.home } : {}),
      ...(models.clusterWorkers ? { workers: models.clusterWorkers() } : {}),
    }),

    'rpc.discover': () => openrpc,

    'session.create': async (p, ctx) => {
      const family: FamilyName = p.family ?? 'stardist';
      assertConfig(family, p.config);
      if (p.starter !== undefined) {
        if (!sessions.starters.find(p.starter, family)) {
          const have = sessions.starters
            .list()
            .filter((e) => e.card.family === family)
            .map((e) => `"${e.card.name}"`);
          throw invalidParams(
            [
              {
                path: '/starter',
                message: `no built-in ${family} starter model "${p.starter}"; ${have.length ? `available: ${have.join(', ')}` : `this server has no ${family} starter models`}`,
              },
            ],
            'unknown starter model',
          );
        }
        if (p.config !== undefined && Object.keys(p.config).length > 0)
          throw invalidParams([{ path: '/config', message: 'a starter model fixes the family config; leave config out when starter is given' }]);
      }
      const s = await sessions.create(p);
      ctx.attach(s.id);
      ctx.log.info({ sessionId: s.id, starter: s.meta.starter }, 'session created');
      return { sessionId: s.id, name: s.meta.name, family: s.meta.family, ...(s.meta.starter !== undefined ? { starter: s.meta.starter } : {}) };
    },

    'session.list': () => {
      const { sessions: all, damaged } = sessions.list();
      return {
        sessions: all.map((s) => ({
          sessionId: s.id,
          name: s.meta.name,
          family: s.meta.family,
          state: s.state,
          images: s.images.size,
          generation: s.generation,
        })),
        ...(damaged.length ? { damaged } : {}),
      };
    },

    'session.get': (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      sessions.reopened(s);
      return s.info();
    },

    'session.close': async (p) => {
      const s = sessions.get(p.sessionId);
      await models.closeSession(s);
      await sessions.close(p.sessionId, p.delete === true);
      return { closed: true, deleted: p.delete === true };
    },

    'session.setView': (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      const im = s.image(p.imageId);
      const spatial = spatialShape(im.meta.shape, im.meta.axes);
      const [H, W] = spatial.slice(-2);
      const [y0, x0, y1, x1] = p.region as number[];
      if (!(y0 < y1 && x0 < x1 && y1 <= H && x1 <= W))
        throw new RpcError('ShapeMismatch', `region [${p.region}] is empty or outside the ${H}x${W} image plane`, [
          { path: '/region', message: 'outside the image' },
        ]);
      const z = p.z ?? p.t ?? 0;
      if (spatial.length === 3 && z >= spatial[0])
        throw new RpcError('ShapeMismatch', `plane ${z} outside the ${spatial[0]} planes`, [
          { path: p.z !== undefined ? '/z' : '/t', message: 'outside the stack' },
        ]);
      const view = { imageId: p.imageId as string, region: [y0, x0, y1, x1] as [number, number, number, number], z };
      s.view = view;
      models.setView(s, view);
      return { ok: true };
    },

    'image.add': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      s.assertRoomForImage(config.maxImagesPerSession);
      let data: TypedArray, shape: number[], dtype;
      if ('tiff' in p.image) {
        ({ data, shape, dtype } = await decodeImageTiff(p.image.tiff, config.maxArrayElements, config.decodeTimeoutS));
      } else {
        ({ data, shape } = await decodeNd(p.image, config.maxArrayElements, '/image'));
        dtype = p.image.dtype;
      }
      const axes: Axes = p.axes ?? inferAxes(shape);
      checkAxes(shape, axes);
      const meta = await s.addImage(data, shape, axes, dtype, p.name, config.maxImagesPerSession);
      return { imageId: meta.imageId, shape: meta.shape, axes: meta.axes };
    },

    'labels.update': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      const im = s.image(p.imageId);
      const spatial = spatialShape(im.meta.shape, im.meta.axes);
      // The decoded values may live in the inflater's scratch memory until the update is applied (release below).
      const scratch = deps.inflater?.hook();
      try {
        const { data, offset, shape } = await decodeLabels(p.labels, p.encoding, config.maxArrayElements, scratch?.inflate);
        if (shape.length !== spatial.length) {
          throw new RpcError(
            'ShapeMismatch',
            `labels have ${shape.length} dimensions; image ${p.imageId} needs ${spatial.length} (${JSON.stringify(spatial)})`,
            [{ path: '/labels/shape', message: `expected ${spatial.length} dimensions` }],
          );
        }
        let origin: number[];
        if (p.origin === undefined) {
          if (shape.some((d, i) => d !== spatial[i]))
            throw new RpcError(
              'ShapeMismatch',
              `full label layer has shape ${JSON.stringify(shape)}; image needs ${JSON.stringify(spatial)} (or pass origin for a patch)`,
              [{ path: '/labels/shape', message: `expected ${JSON.stringify(spatial)}` }],
            );
          origin = spatial.map(() => 0);
        } else {
          origin = p.origin;
          if (origin.length !== spatial.length)
            throw new RpcError('ShapeMismatch', `origin has ${origin.length} coordinates; image needs ${spatial.length}`, [
              { path: '/origin', message: `expected ${spatial.length} coordinates` },
            ]);
          for (let i = 0; i < spatial.length; i++) {
            if (origin[i] + shape[i] > spatial[i])
              throw new RpcError(
                'ShapeMismatch',
                `patch at origin ${JSON.stringify(origin)} with shape ${JSON.stringify(shape)} exceeds the image ${JSON.stringify(spatial)} on axis ${i}`,
                [{ path: `/origin/${i}`, message: 'patch does not fit' }],
              );
          }
        }
        // Deflated patches are journaled exactly as they arrived (the decode above validated them) and applied
        // straight from the decoded values; other patches are journaled as signed int32.
        if (p.labels.encoding === 'deflate') {
          const wire: WireLabels = { dtype: p.labels.dtype as WireLabels['dtype'], offset: offset as 0 | 1, deflated: Buffer.from(p.labels.data, 'base64') };
          return await s.updateLabels(p.imageId, origin, shape, { values: data, offset }, p.kind ?? 'annotation', wire);
        }
        const signed = toSigned(data, offset);
        return await s.updateLabels(p.imageId, origin, shape, { values: signed, offset: 0 }, p.kind ?? 'annotation');
      } finally {
        scratch?.release();
      }
    },

    'labels.get': (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      const im = s.image(p.imageId);
      const enc = p.encoding ?? 'signed';
      const src = im.layer.labels;
      let labels: NdArray;
      if (enc === 'signed') labels = encodeNdArray(src, im.layer.shape, { deflate: true });
      else {
        let max = 0;
        for (let i = 0; i < src.length; i++) if (src[i] > max) max = src[i];
        const out = max + 1 <= 65535 ? new Uint16Array(src.length) : new Int32Array(src.length);
        for (let i = 0; i < src.length; i++) out[i] = src[i] + 1;
        labels = encodeNdArray(out, im.layer.shape, { deflate: true });
      }
      return { generation: im.generation, labels, encoding: enc, counts: im.layer.counts() };
    },

    'model.train': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      if (p.family !== undefined || p.config !== undefined) assertConfig(p.family ?? s.meta.family, p.config ?? s.meta.config);
      assertPatchSize(p.family ?? s.meta.family, p.from === 'starter' ? {} : (p.config ?? s.meta.config), p.options?.patchSize);
      if (s.images.size === 0)
        throw new RpcError('InvalidLabels', `session ${s.id} has no images; add an image and labels first`, [{ path: '/sessionId', message: 'no images' }]);
      return models.train(s, p);
    },

    'model.configure': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      assertPatchSize(s.meta.family, s.meta.config, p.options.patchSize);
      return models.configure(s, p);
    },

    'model.predict': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      s.image(p.imageId);
      const token = p.progressToken;
      return models.predict(s, p, { signal: ctx.signal, ...(token !== undefined ? { progress: (q) => ctx.progress({ ...q, token }) } : {}) });
    },

    'model.suggest': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      if (p.imageId !== undefined) s.image(p.imageId);
      return models.suggest(s, p, { signal: ctx.signal });
    },

    'model.cancel': async (p) => models.cancel(p.jobId),

    'model.export': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      const { sessionId: _id, ...opts } = p;
      if (opts.imageId !== undefined) s.image(opts.imageId);
      return models.exportModel(s, opts);
    },

    'model.import': async (p, ctx) => {
      const s = sessions.get(p.sessionId);
      ctx.attach(s.id);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p.model) || p.model.length % 4 !== 0) throw invalidParams([{ path: '/model', message: 'model must be base64' }]);
      const bytes = new Uint8Array(Buffer.from(p.model, 'base64'));
      const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b;
      if (p.format === undefined && isZip)
        throw invalidParams([{ path: '/format', message: 'the model is a zip archive: pass format "bioimageio" to import a bioimage.io package' }]);
      return models.importModel(s, bytes, p.format ?? 'sparsecell');
    },
  };
}
