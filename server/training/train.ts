/**
 * The masked-loss training loop: a function, not a method (ARCHITECTURE.md "Training and scheduling").
 *
 * Adam on all U-Net variables; each step: sampler.next() -> tensors -> family.loss(unet(x), target, weight)
 * -> optimizer.minimize, all inside tf.tidy. The optimizer (and its slot variables) lives for one call and is
 * disposed at the end. The AbortSignal is checked before every step and the event loop is yielded after every
 * step (so a cancel message can arrive in a worker thread).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SegmentationModel } from '../models/segmentation-model.js';
import { unetDecoderVariables, unetForward, unetTrainableVariables, unetVariables } from '../models/unet/unet.js';
import { parseTrainOptions, UNBOUNDED_STEPS, type TrainOptions } from './config.js';
import { PatchSampler, type Batch, type BatchSource, type TrainingSample } from './sampler.js';
import { unetDivisor } from '../models/unet/config.js';
import { batchTensors } from './batch-tensors.js';
import { finetuneStep, scheduledLearningRate } from '../recipe.js';

export { batchTensors } from './batch-tensors.js';

export interface TrainProgress {
  step: number;
  steps: number;
  /** Loss of this step. */
  loss: number;
  /** Exponential moving average of the loss (factor 0.9). */
  smoothedLoss: number;
  stepsPerS: number;
  etaS: number;
}

export interface TrainCallbacks {
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Called every opts.checkpointEvery steps and once at the end (awaited). */
  onCheckpoint?: (step: number) => void | Promise<void>;
}

export type StopReason = 'steps' | 'time' | 'abort';

export interface TrainResult {
  steps: number;
  /** Smoothed loss at the end (NaN if no step ran). */
  loss: number;
  stoppedBy: StopReason;
}

/** The PatchSampler that matches a model and the training options (patch size, batch, seed, augmentation). */
export function createSampler(
  model: SegmentationModel,
  samples: TrainingSample[],
  options: Partial<TrainOptions> = {},
): PatchSampler<SegmentationModel['config']> {
  const o = parseTrainOptions(options);
  return new PatchSampler(samples, model.family, model.config, {
    patchSize: o.patchSize,
    batchSize: o.batchSize,
    seed: o.seed,
    augment: o.augment,
    targetMargin: o.targetMargin,
    divisor: unetDivisor(model.unet.config),
  });
}

/** Adam reads its learning rate at every step, so changing it keeps the moments (no restart). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Loss of the model on one batch (no gradient); for tests and validation. */
export function batchLoss(model: SegmentationModel, b: Batch): number {
  return tf.tidy(() => {
    const { x, target, weight } = batchTensors(b);
    return model.family.loss(unetForward(model.unet, x), target, weight, model.config).dataSync()[0];
  });
}

/** One optimizer step on one batch; returns the loss. The optimizer is the caller's (keeps Adam state across calls). */
export async function trainStep(model: SegmentationModel, optimizer: tf.Optimizer, batch: Batch, vars = unetVariables(model.unet)): Promise<number> {
  const lossT = tf.tidy(() => {
    const { x, target, weight } = batchTensors(batch);
    return optimizer.minimize(() => model.family.loss(unetForward(model.unet, x), target, weight, model.config), true, vars)!;
  });
  const loss = (await lossT.data())[0];
  lossT.dispose();
  return loss;
}

export async function train(
  model: SegmentationModel,
  sampler: BatchSource,
  options: Partial<TrainOptions> = {},
  cb: TrainCallbacks = {},
): Promise<TrainResult> {
  const opts = parseTrainOptions(options);
  // Decoder first, so that the frozen-encoder phase's variables are a prefix (Adam's slots are positional).
  const vars = unetTrainableVariables(model.unet);
  const decoderVars = unetDecoderVariables(model.unet);
  const optimizer = tf.train.adam(opts.learningRate);
  const t0 = Date.now();
  let step = 0;
  let smoothed = NaN;
  let stoppedBy: StopReason = 'steps';
  try {
    while (step < opts.steps) {
      if (cb.signal?.aborted) {
        stoppedBy = 'abort';
        break;
      }
      const ft = finetuneStep(opts, step);
      setLearningRate(optimizer, ft.lrFactor * scheduledLearningRate(opts, step, (Date.now() - t0) / 1000, UNBOUNDED_STEPS));
      const loss = await trainStep(model, optimizer, sampler.next(), ft.freezeEncoder ? decoderVars : vars);
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step + 1} (loss ${loss})`);
      step++;
      smoothed = Number.isNaN(smoothed) ? loss : 0.9 * smoothed + 0.1 * loss;
      const elapsed = (Date.now() - t0) / 1000;
      const stepsPerS = step / Math.max(elapsed, 1e-9);
      cb.onProgress?.({ step, steps: opts.steps, loss, smoothedLoss: smoothed, stepsPerS, etaS: (opts.steps - step) / stepsPerS });
      if (opts.checkpointEvery > 0 && step % opts.checkpointEvery === 0 && step < opts.steps) await cb.onCheckpoint?.(step);
      if (opts.timeLimitS > 0 && elapsed >= opts.timeLimitS && step < opts.steps) {
        stoppedBy = 'time';
        break;
      }
      await yieldToEventLoop();
    }
    if (step > 0) await cb.onCheckpoint?.(step);
  } finally {
    optimizer.dispose();
  }
  return { steps: step, loss: smoothed, stoppedBy };
}
