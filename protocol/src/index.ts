export * from './types.js';
export * from './errors.js';
export * from './progress.js';
export * from './methods.js';
export * from './validate.js';
export * from './ndarray.js';
export const PROTOCOL_VERSION = '1.0.0';
export * from './openrpc.js';
