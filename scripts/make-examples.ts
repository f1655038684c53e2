/**
 * Writes protocol/examples/<method>.request.json / .response.json (and notification examples): small,
 * realistic wire fixtures that the TypeScript, Python and Java tests all parse and validate.
 * Run: npm run build && node dist/scripts/make-examples.js
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNdArray } from '../protocol/src/ndarray.js';
import { ROOT } from './codegen.js';
import { recipeForClients } from '../server/recipe.js';

const S = 'sdemo0001';
const labels4 = encodeNdArray(Uint16Array.from([0, 1, 1, 0, 1, 2, 2, 1, 1, 2, 2, 1, 0, 1, 1, 0]), [4, 4]);
const signed4 = encodeNdArray(Int32Array.from([-1, 0, 0, -1, 0, 1, 1, 0, 0, 1, 1, 0, -1, 0, 0, -1]), [4, 4], { deflate: true });
const image4 = encodeNdArray(Uint8Array.from([10, 12, 11, 9, 13, 200, 210, 12, 11, 205, 199, 10, 9, 12, 13, 11]), [4, 4]);
const pred4 = encodeNdArray(Int32Array.from([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]), [4, 4], { deflate: true });
const counts = { unlabeled: 4, background: 8, objects: 1 };
const suggestions = [
  {
    imageId: 'img1',
    region: [1, 1, 3, 3],
    kind: 'object',
    reason: 'uncertain',
    score: 0.62,
    polygon: [
      [0.8, 1.5],
      [1.5, 2.2],
      [2.2, 1.5],
      [1.5, 0.8],
    ],
  },
  { imageId: 'img1', region: [0, 2, 2, 4], kind: 'area', reason: 'unlike-labeled', score: 0.41 },
];
const polygons = [
  {
    id: 1,
    score: 0.93,
    points: [
      [0.8, 1.5],
      [1.5, 2.2],
      [2.2, 1.5],
      [1.5, 0.8],
    ],
  },
];

const EXAMPLES: Record<string, [unknown, unknown]> = {
  'server.info': [
    {},
    {
      name: 'sparsecell',
      version: '0.1.0',
      protocolVersion: '1.0.0',
      backend: { name: 'wasm', simd: true, threads: 1, gpu: false },
      limits: { maxMessageBytes: 268435456, maxArrayElements: 67108864, maxSessions: 256 },
      families: ['stardist', 'cellpose', 'elephant'],
      starterModels: [
        {
          name: 'nuclei',
          family: 'stardist',
          description: 'StarDist-like nuclei model for 2-D fluorescence nuclei',
          scores: { accuracy05: 0.84, f1: 0.91, pq: 0.76, testImages: 50 },
        },
      ],
      recipe: recipeForClients(),
    },
  ],
  'session.create': [
    { name: 'nuclei', family: 'stardist', starter: 'nuclei' },
    { sessionId: S, name: 'nuclei', family: 'stardist', starter: 'nuclei' },
  ],
  'session.list': [{}, { sessions: [{ sessionId: S, name: 'nuclei', family: 'stardist', state: 'open', images: 1, generation: 2 }] }],
  'session.get': [
    { sessionId: S },
    {
      sessionId: S,
      name: 'nuclei',
      family: 'stardist',
      config: { nRays: 32 },
      createdAt: '2026-11-25T12:00:00.000Z',
      generation: 2,
      state: 'open',
      images: [{ imageId: 'img1', shape: [4, 4], axes: 'YX', dtype: 'uint8', generation: 2, counts }],
      modelVersion: 3,
      trainedGeneration: 2,
      jobs: [{ jobId: 'job1', kind: 'train', state: 'done', step: 100, steps: 100, loss: 0.41 }],
    },
  ],
  'session.close': [{ sessionId: S }, { closed: true, deleted: false }],
  'session.setView': [{ sessionId: S, imageId: 'img1', region: [0, 0, 4, 4] }, { ok: true }],
  'image.add': [
    { sessionId: S, image: image4, axes: 'YX', name: 'nuclei.tif' },
    { imageId: 'img1', shape: [4, 4], axes: 'YX' },
  ],
  'labels.update': [
    { sessionId: S, imageId: 'img1', labels: labels4, encoding: 'offset1' },
    { generation: 1, counts },
  ],
  'labels.get': [
    { sessionId: S, imageId: 'img1', encoding: 'signed' },
    { generation: 1, labels: signed4, encoding: 'signed', counts },
  ],
  'model.train': [{ sessionId: S, timeLimitS: 60, from: 'starter', options: { batchSize: 4, patchSize: 128 } }, { jobId: 'job1' }],
  'model.configure': [{ sessionId: S, options: { learningRate: 0.0003 } }, { options: { batchSize: 4, patchSize: 128, learningRate: 0.0003 } }],
  'model.predict': [
    { sessionId: S, imageId: 'img1', progressToken: 'p1' },
    { labels: pred4, polygons, modelVersion: 3, generation: 2, region: [0, 0, 4, 4] },
  ],
  'model.suggest': [
    { sessionId: S, imageId: 'img1', count: 2 },
    { modelVersion: 3, generation: 2, imageId: 'img1', region: [0, 0, 4, 4], suggestions },
  ],
  'model.cancel': [{ jobId: 'job1' }, { cancelled: true, state: 'cancelled' }],
  'model.export': [{ sessionId: S }, { model: 'U0NNMQ==', family: 'stardist', modelVersion: 3, bytes: 4 }],
  'model.import': [
    { sessionId: S, model: 'U0NNMQ==' },
    { family: 'stardist', modelVersion: 4 },
  ],
  'rpc.discover': [{}, { openrpc: '1.3.2', info: { title: 'sparsecell', version: '0.1.0' }, methods: [] }],
};

const NOTIFICATION_EXAMPLES: Record<string, unknown> = {
  'progress.begin': { jsonrpc: '2.0', method: '$/progress', params: { token: 'job1', kind: 'begin', title: 'train stardist', step: 0, steps: 200 } },
  'progress.report': {
    jsonrpc: '2.0',
    method: '$/progress',
    params: { token: 'job1', kind: 'report', step: 20, steps: 200, loss: 0.83, stepsPerS: 1.9, etaS: 94.7, percentage: 10 },
  },
  'progress.end': { jsonrpc: '2.0', method: '$/progress', params: { token: 'job1', kind: 'end', step: 200, steps: 200, loss: 0.41, state: 'done' } },
  'event.prediction-updated': {
    jsonrpc: '2.0',
    method: '$/event',
    params: { type: 'prediction.updated', sessionId: S, imageId: 'img1', region: [0, 0, 4, 4], generation: 2, modelVersion: 3, labels: pred4, polygons },
  },
  'event.suggestions-updated': {
    jsonrpc: '2.0',
    method: '$/event',
    params: { type: 'suggestions.updated', sessionId: S, imageId: 'img1', region: [0, 0, 4, 4], modelVersion: 3, suggestions },
  },
  'event.model-updated': { jsonrpc: '2.0', method: '$/event', params: { type: 'model.updated', sessionId: S, modelVersion: 3, generation: 2 } },
  'cancel-request': { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 7 } },
  'error.invalid-params': {
    jsonrpc: '2.0',
    id: 7,
    error: {
      code: -32602,
      message: 'invalid params for labels.update: /encoding Expected union value',
      data: [{ path: '/encoding', message: 'Expected union value' }],
    },
  },
};

export const EXAMPLE_METHODS = Object.keys(EXAMPLES);

if (process.argv[1]?.endsWith('make-examples.js')) {
  const dir = join(ROOT, 'protocol', 'examples');
  mkdirSync(dir, { recursive: true });
  let id = 1;
  for (const [method, [params, result]] of Object.entries(EXAMPLES)) {
    writeFileSync(join(dir, `${method}.request.json`), JSON.stringify({ jsonrpc: '2.0', id, method, params }, null, 2) + '\n');
    writeFileSync(join(dir, `${method}.response.json`), JSON.stringify({ jsonrpc: '2.0', id, result }, null, 2) + '\n');
    id++;
  }
  for (const [name, msg] of Object.entries(NOTIFICATION_EXAMPLES)) writeFileSync(join(dir, `${name}.notification.json`), JSON.stringify(msg, null, 2) + '\n');
  process.stdout.write(`wrote ${Object.keys(EXAMPLES).length * 2 + Object.keys(NOTIFICATION_EXAMPLES).length} examples to ${dir}\n`);
}
