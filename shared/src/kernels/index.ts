export { dgemm, dgemmBase, gemmBackend, setGemmBackend } from './gemm.js';
export type { GemmFn } from './gemm.js';
export { dgemmRef } from './gemm-ref.js';
