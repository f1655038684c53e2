export { SparsecellClient, RpcException, type ConnectOptions } from './client.js';
export { encodeNdArray, decodeNdArray } from '../../../protocol/src/ndarray.js';
export type * from '../../../protocol/src/index.js';
