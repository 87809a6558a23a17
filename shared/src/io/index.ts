/**
 * @attnfit/shared/io — NumPy .npy and .safetensors reading/writing, problem and matrix loading
 * with precise input errors, and atomic (temp + rename) writes. Layer: core + node:* only.
 */
export type { NdArray, ReadOptions } from './ndarray.js';
export { formatShape, shapeSize } from './ndarray.js';
export type { NpyHeader } from './npy.js';
export { decodeNpy, encodeNpy, parseNpyHeader, NPY_MAX_HEADER_BYTES, NPY_MAX_DIMS } from './npy.js';
export type { SafetensorsEntry, SafetensorsHeader, SafetensorsInput } from './safetensors.js';
export { decodeSafetensors, encodeSafetensors, parseSafetensorsHeader } from './safetensors.js';
export type { FileToWrite } from './files.js';
export {
  readBytes,
  readChunks,
  readNpy,
  readSafetensors,
  writeFilesAtomic,
  writeFileAtomic,
  writeNpy,
  writeJsonAtomic,
  writeSafetensors,
} from './files.js';
export type { CheckOutputDirOptions } from './paths.js';
export { checkOutputDir, checkOutputFile, openAppendFile, openInputFile } from './paths.js';
export type { LoadedProblem, LoadProblemOptions, ProblemSource, Matrix, MatrixExpect } from './problem.js';
export { PROBLEM_TENSORS, loadProblem, loadMatrix, checkFinite } from './problem.js';
