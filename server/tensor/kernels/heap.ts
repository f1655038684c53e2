/**
 * Zero-copy access to float32 tensor storage inside kernels, for the 'cpu' and 'wasm' backends.
 *
 * Rules (wasm): allocate every output FIRST, then take views of inputs and outputs, because an allocation may
 * grow the wasm heap and detach earlier views. Views must not outlive the kernel call.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

/** The subset of BackendWasm / MathBackendCPU that the kernels use. */
export interface HeapBackend {
  typedArrayFromHeap?: (t: TensorInfo) => Float32Array;
  makeOutput?: (shape: number[], dtype: 'float32') => TensorInfo;
  makeTensorInfo?: (shape: number[], dtype: 'float32', values: Float32Array) => TensorInfo;
  readSync(dataId: object): unknown;
  disposeData(dataId: object, force?: boolean): boolean;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isWasm(backend: HeapBackend): boolean {
  return typeof backend.typedArrayFromHeap === 'function' && typeof backend.makeOutput === 'function';
}

/** Allocate a float32 output tensor (zero-initialised on cpu; UNINITIALISED on wasm). */
export function allocF32(backend: HeapBackend, shape: number[]): TensorInfo {
  if (isWasm(backend)) return backend.makeOutput!(shape, 'float32');
  return backend.makeTensorInfo!(shape, 'float32', new Float32Array(sizeOf(shape)));
}

/** A live view (wasm) or the backing array (cpu) of a float32 tensor. */
export function viewF32(backend: HeapBackend, t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`sparsecell kernel: expected float32, got ${t.dtype}`);
  if (isWasm(backend)) return backend.typedArrayFromHeap!(t);
  return backend.readSync(t.dataId) as Float32Array;
}

export function disposeInfo(backend: HeapBackend, t: TensorInfo): void {
  backend.disposeData(t.dataId);
}
