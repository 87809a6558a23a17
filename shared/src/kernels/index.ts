export { dgemm, dgemmBase, gemmBackend, setGemmBackend } from './gemm.js';
export type { GemmFn } from './gemm.js';
export { dgemmRef } from './gemm-ref.js';
export { gemmBackends, gemmBackendDetail, gemmWasmLoadError } from './gemm.js';
export { dgemmTs, dgemmTsPacked } from './gemm-ts.js';
export {
  dgemmWasm,
  dgemmWasmPacked,
  wasmGemmAvailable,
  wasmGemmVariant,
  wasmGemmVariants,
  setWasmGemmVariant,
  wasmGemmFmaStatus,
} from './wasm-gemm.js';
export type { WasmGemmVariant } from './wasm-gemm.js';
export { GEMM_BLOCKING, GEMM_SMALL_MNK } from './gemm-blocking.js';
export { scaleC } from './gemm-driver.js';
export type { GemmBlocking } from './gemm-blocking.js';
export { vexp, vexpBase, vexpScalar, expShiftSum, vexpBackend, setExpKernel } from './vexp.js';
export type { ExpKernel } from './vexp.js';
export { softmaxRows, softmaxRowsBase, softmaxExpRowsBase, jrow, jrowBase } from './softmax.js';
export { cholesky, choleskyBase, choleskySolveBase, solveSPD } from './cholesky.js';
export { luFactorBase, luSolveBase, solveGeneral } from './lu.js';
export { ldlt, ldltSolve, inertia } from './ldlt.js';
export type { LdltFactor, Inertia } from './ldlt.js';
export { symEig, symEigBase, symEigMin, symEigValues } from './eigen.js';
export type { SymEig } from './eigen.js';
export { NotPositiveDefiniteError, SingularMatrixError } from './linalg-errors.js';
export { wasmArray } from './wasm-memory.js';
