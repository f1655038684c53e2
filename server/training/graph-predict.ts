/**
 * Inference through a TensorFlow graph session on the `tensorflow` backend (models/unet/savedmodel.ts says why:
 * grappler fuses each convolution with its bias and ReLU, as Keras' predict gets, and the family's activation runs
 * in the same session instead of as separate eager passes over the maps).
 *
 * A session is built from the model's current weights (a frozen SavedModel written to a temporary folder, loaded, and
 * the folder removed) and kept while the weights stay the same: each call hashes the weights (a few ms for the
 * recipe's network) and rebuilds when they changed (a training step ran). At most MAX_SESSIONS are kept per thread,
 * the least recently built closed first; disposeModel closes a model's session. Off the tensorflow backend (wasm)
 * nothing here runs and predictImage uses the eager forward.
 */
import * as tf from '@tensorflow/tfjs-core';
import { activationSpec, disposeHooks, type SegmentationModel } from '../models/segmentation-model.js';
import { getUNetWeights, type NamedTensorData, type UNet } from '../models/unet/unet.js';
import { GRAPH_INPUT, GRAPH_OUTPUT, SAVED_MODEL_TAG, unetSavedModel } from '../models/unet/savedmodel.js';
import { withTempFiles } from '../storage/temp-files.js';

/** What tfjs-node's backend offers for SavedModels (tfjs-node/dist/nodejs_kernel_backend.js). */
interface NodeSavedModelBackend {
  loadSavedModelMetaGraph(path: string, tags: string): number;
  runSavedModel(id: number, inputs: tf.Tensor[], infos: Array<{ name: string; dtype: string; tfDtype: string }>, outputs: string[]): tf.Tensor[];
  deleteSavedModel(id: number): void;
}

const MAX_SESSIONS = 4;
const sessions: Array<{ unet: UNet; hash: number; id: number }> = [];
let enabled = true;

/** Switch graph inference off (or back on) in this thread: benchmarks and tests compare it with the eager forward. */
export function setGraphInference(on: boolean): void {
  enabled = on;
  if (on) failure = undefined;
}

/** FNV-1a over the weights' bits: changes when any weight changes. */
export function weightsHash(weights: NamedTensorData[]): number {
  let h = 0x811c9dc5;
  for (const t of weights) {
    const u = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 0x01000193);
  }
  return h >>> 0;
}

function backend(): NodeSavedModelBackend | undefined {
  if (!enabled || tf.getBackend() !== 'tensorflow') return undefined;
  const b = tf.backend() as unknown as Partial<NodeSavedModelBackend>;
  return typeof b.loadSavedModelMetaGraph === 'function' && typeof b.runSavedModel === 'function' ? (b as NodeSavedModelBackend) : undefined;
}

/** Whether graph inference runs in this thread (the tensorflow backend, not switched off). */
export function graphInferenceAvailable(): boolean {
  return backend() !== undefined;
}

function close(b: NodeSavedModelBackend, i: number): void {
  const [s] = sessions.splice(i, 1);
  b.deleteSavedModel(s.id);
}

/** A session for the model's current weights, built when needed. */
function session(b: NodeSavedModelBackend, model: SegmentationModel): number {
  const unet = model.unet;
  const weights = getUNetWeights(unet);
  const hash = weightsHash(weights);
  const at = sessions.findIndex((s) => s.unet === unet);
  if (at >= 0) {
    if (sessions[at].hash === hash) return sessions[at].id;
    close(b, at);
  }
  const pb = unetSavedModel(unet.config, weights, activationSpec(model));
  const id = withTempFiles('sparsecell-graph-', { 'saved_model.pb': pb }, (dir) => b.loadSavedModelMetaGraph(dir, SAVED_MODEL_TAG));
  if (sessions.length >= MAX_SESSIONS) close(b, 0);
  sessions.push({ unet, hash, id });
  return id;
}

/** The failure path shared by graphRunner and its runs: this thread predicts eagerly from now on. */
function fail(e: unknown): undefined {
  // A TensorFlow that cannot load or run the graph (an unwritable temporary folder, an op it lacks): this thread
  // predicts eagerly from now on, and says why through graphInferenceFailure().
  enabled = false;
  failure = String((e as Error)?.message ?? e).split('\n')[0];
  return undefined;
}

/**
 * A runner for the model's current weights (the session is looked up, or built, once: call it once per prediction,
 * not per window), giving activated maps (what family.activate(unetForward(x)) gives, within float32 round-off) for
 * x [1, H, W, C]; undefined when graph inference does not run here. A run that fails returns undefined.
 */
export function graphRunner(model: SegmentationModel): ((x: tf.Tensor4D) => tf.Tensor4D | undefined) | undefined {
  const b = backend();
  if (!b) return undefined;
  let id: number;
  try {
    id = session(b, model);
  } catch (e) {
    return fail(e);
  }
  return (x) => {
    if (!enabled) return undefined;
    try {
      const [y] = b.runSavedModel(id, [x], [{ name: `${GRAPH_INPUT}:0`, dtype: 'float32', tfDtype: 'DT_FLOAT' }], [`${GRAPH_OUTPUT}:0`]);
      return y as tf.Tensor4D;
    } catch (e) {
      return fail(e);
    }
  };
}

/** One window through the graph (graphRunner for a single call). */
export function graphPredict(model: SegmentationModel, x: tf.Tensor4D): tf.Tensor4D | undefined {
  return graphRunner(model)?.(x);
}

let failure: string | undefined;

/** Why graph inference was switched off in this thread after a failure (undefined: it never failed). */
export function graphInferenceFailure(): string | undefined {
  return failure;
}

/** Close the U-Net's session, if it has one. */
export function releaseGraph(unet: UNet): void {
  const at = sessions.findIndex((s) => s.unet === unet);
  if (at < 0) return;
  const b = tf.backend() as unknown as Partial<NodeSavedModelBackend>;
  if (typeof b.deleteSavedModel === 'function') close(b as NodeSavedModelBackend, at);
  else sessions.splice(at, 1);
}

/** Open sessions in this thread (tests). */
export function openGraphSessions(): number {
  return sessions.length;
}

disposeHooks.push((m) => releaseGraph(m.unet));
