/**
 * Loading and validating attention-regression problems and d×d matrices from user files.
 *
 * A problem is either a directory with A1.npy A2.npy A3.npy B.npy, or one .safetensors file with
 * tensors A1 A2 A3 B (a directory holding problem.safetensors and no A1.npy also works). All
 * four must be 2-d, the same n×d, n, d ≥ 1, and finite. Messages name the file and the value.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AttnfitError, ErrorCodes, type Problem } from '../core/index.js';
import { readNpy, readSafetensors } from './files.js';
import { fsReadError } from './paths.js';
import { formatShape, type NdArray } from './ndarray.js';

/** The four problem tensors, in load order. */
export const PROBLEM_TENSORS = Object.freeze(['A1', 'A2', 'A3', 'B'] as const);

/** Where a problem came from. */
export interface ProblemSource {
  format: 'npy' | 'safetensors';
  /** The path the user gave. */
  path: string;
  /** Stored dtype of each tensor, e.g. { A1: '<f8', …, B: '<f4' } or { A1: 'F64', … }. */
  dtypes: Record<string, string>;
}

/** A loaded problem: the core `Problem` (A1, A2, A3, B n×d row-major float64) and its source. */
export interface LoadedProblem extends Problem {
  readonly source: ProblemSource;
}

/** Options for {@link loadProblem}. */
export interface LoadProblemOptions {
  /** Allocate tensors on SharedArrayBuffers (for a thread pool). Default false. */
  shared?: boolean;
}

async function kindOf(path: string): Promise<'dir' | 'file' | null> {
  try {
    const st = await stat(path);
    return st.isDirectory() ? 'dir' : 'file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw fsReadError(e, path); // a symlink loop, a name too long, no permission: BAD_FILE
  }
}

/**
 * Load and validate a problem.
 * @param path a directory (A1.npy A2.npy A3.npy B.npy, or problem.safetensors) or a .safetensors file
 * @throws AttnfitError FILE_NOT_FOUND (which file), BAD_FILE, BAD_DTYPE, SHAPE_MISMATCH,
 *   EMPTY (n or d is 0), NON_FINITE ("B.npy: NaN at [3, 1]")
 * @example const p = await loadProblem('runs/p1'); console.log(p.n, p.d);
 */
export async function loadProblem(path: string, opts: LoadProblemOptions = {}): Promise<LoadedProblem> {
  const { arrays, labels, format } = await readProblemTensors(path, !!opts.shared);
  const { n, d } = checkProblemShapes(arrays, labels);
  for (const t of PROBLEM_TENSORS) checkFinite(arrays.get(t)!, labels.get(t)!);
  const dtypes: Record<string, string> = {};
  for (const t of PROBLEM_TENSORS) dtypes[t] = arrays.get(t)!.dtype;
  return {
    n,
    d,
    A1: arrays.get('A1')!.data,
    A2: arrays.get('A2')!.data,
    A3: arrays.get('A3')!.data,
    B: arrays.get('B')!.data,
    source: { format, path, dtypes },
  };
}

/** The four tensors as read, each with the label messages name it by (file, or file[tensor]). */
interface ReadTensors {
  arrays: Map<string, NdArray>;
  labels: Map<string, string>;
  format: ProblemSource['format'];
}

/** Find the problem's files (directory of .npy, directory with problem.safetensors, or a .safetensors file) and read A1, A2, A3, B. */
async function readProblemTensors(path: string, shared: boolean): Promise<ReadTensors> {
  const kind = await kindOf(path);
  if (kind === null) {
    throw new AttnfitError(
      ErrorCodes.FILE_NOT_FOUND,
      `${path}: problem not found (expected a directory with A1.npy, A2.npy, A3.npy, B.npy or a .safetensors file)`,
      { details: { file: path } },
    );
  }
  if (kind === 'dir') {
    const hasA1 = (await kindOf(join(path, 'A1.npy'))) !== null;
    const st = join(path, 'problem.safetensors');
    const hasSt = (await kindOf(st)) === 'file';
    if (hasA1 && hasSt) {
      throw new AttnfitError(
        ErrorCodes.BAD_FILE,
        `${path}: holds both A1.npy and problem.safetensors, so the problem is ambiguous: pass ${st} to use the safetensors file, or move one of them away`,
        { details: { file: path } },
      );
    }
    return hasSt ? readSafetensorsProblem(st, shared) : readNpyProblem(path, shared);
  }
  if (!/\.safetensors$/i.test(path)) {
    throw new AttnfitError(
      ErrorCodes.BAD_FILE,
      `${path}: a problem is a directory with A1.npy, A2.npy, A3.npy, B.npy or a .safetensors file`,
      { details: { file: path } },
    );
  }
  return readSafetensorsProblem(path, shared);
}

/** A1.npy … B.npy of a directory (all four must exist before any is read). */
async function readNpyProblem(dir: string, shared: boolean): Promise<ReadTensors> {
  const arrays = new Map<string, NdArray>();
  const labels = new Map<string, string>();
  for (const t of PROBLEM_TENSORS) {
    const file = join(dir, `${t}.npy`);
    if ((await kindOf(file)) === null) {
      throw new AttnfitError(
        ErrorCodes.FILE_NOT_FOUND,
        `${file}: file not found (a problem directory needs A1.npy, A2.npy, A3.npy, B.npy)`,
        { details: { file } },
      );
    }
  }
  for (const t of PROBLEM_TENSORS) {
    const file = join(dir, `${t}.npy`);
    labels.set(t, file);
    arrays.set(t, await readNpy(file, { shared, label: file }));
  }
  return { arrays, labels, format: 'npy' };
}

/** Tensors A1, A2, A3, B of one .safetensors file. */
async function readSafetensorsProblem(stPath: string, shared: boolean): Promise<ReadTensors> {
  const arrays = new Map<string, NdArray>();
  const labels = new Map<string, string>();
  const tensors = await readSafetensors(stPath, { shared, only: PROBLEM_TENSORS });
  for (const t of PROBLEM_TENSORS) {
    const a = tensors.get(t);
    if (!a) {
      throw new AttnfitError(
        ErrorCodes.BAD_FILE,
        `${stPath}: no tensor '${t}' (it has ${[...tensors.keys()].sort().join(', ') || 'none of A1, A2, A3, B'}; a problem needs A1, A2, A3, B)`,
        { details: { file: stPath, tensor: t } },
      );
    }
    labels.set(t, `${stPath}[${t}]`);
    arrays.set(t, a);
  }
  return { arrays, labels, format: 'safetensors' };
}

/** All four 2-d, the same n×d, n, d ≥ 1: SHAPE_MISMATCH / EMPTY naming the file otherwise. */
function checkProblemShapes(arrays: Map<string, NdArray>, labels: Map<string, string>): { n: number; d: number } {
  const a1 = arrays.get('A1')!;
  const l1 = labels.get('A1')!;
  for (const t of PROBLEM_TENSORS) {
    const a = arrays.get(t)!;
    if (a.shape.length !== 2) {
      throw new AttnfitError(
        ErrorCodes.SHAPE_MISMATCH,
        `${labels.get(t)}: shape ${formatShape(a.shape)} is ${a.shape.length}-d: A1, A2, A3, B must all be n×d matrices`,
        { details: { file: labels.get(t), shape: a.shape } },
      );
    }
  }
  for (const t of PROBLEM_TENSORS) {
    const a = arrays.get(t)!;
    if (a.shape[0] !== a1.shape[0] || a.shape[1] !== a1.shape[1]) {
      throw new AttnfitError(
        ErrorCodes.SHAPE_MISMATCH,
        `${labels.get(t)}: shape ${formatShape(a.shape)} but ${l1} is ${formatShape(a1.shape)}: A1, A2, A3, B must all be n×d`,
        { details: { file: labels.get(t), shape: a.shape, expected: a1.shape } },
      );
    }
  }
  const n = a1.shape[0]!,
    d = a1.shape[1]!;
  if (n === 0 || d === 0) {
    throw new AttnfitError(
      ErrorCodes.EMPTY,
      `${l1}: shape ${formatShape(a1.shape)} is empty: the problem needs n >= 1 rows and d >= 1 columns`,
      { details: { file: l1, shape: a1.shape } },
    );
  }
  return { n, d };
}

/**
 * Throw NON_FINITE at the first NaN or ±Inf, naming the file and the C-order index.
 * @example checkFinite(a, 'B.npy') // throws "B.npy: NaN at [3, 1]"
 */
export function checkFinite(a: NdArray, label: string): void {
  const x = a.data;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0) {
      // NaN or ±Inf
      const idx = unravel(i, a.shape);
      const what = Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf';
      throw new AttnfitError(ErrorCodes.NON_FINITE, `${label}: ${what} at ${formatShape(idx)}`, {
        details: { file: label, index: idx },
      });
    }
  }
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % shape[k]!;
    i = Math.floor(i / shape[k]!);
  }
  return idx;
}

/** A dense row-major float64 matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** What {@link loadMatrix} expects. */
export interface MatrixExpect {
  /** Required rows (omit: any). */
  rows?: number;
  /** Required columns (omit: any). */
  cols?: number;
  /** How messages name the input, e.g. "--x" → "--x X.npy: shape [3, 4], expected [4, 4]". */
  field?: string;
  /** SharedArrayBuffer-backed result. */
  shared?: boolean;
}

/**
 * Load a 2-d float .npy matrix (e.g. X.npy, Y.npy: d×d) and validate shape and finiteness.
 * @throws AttnfitError FILE_NOT_FOUND, BAD_FILE, BAD_DTYPE, SHAPE_MISMATCH, NON_FINITE — the
 *   message starts with "<field> <path>"
 * @example const X = await loadMatrix('X.npy', { rows: d, cols: d, field: '--x' });
 */
export async function loadMatrix(path: string, expect: MatrixExpect = {}): Promise<Matrix> {
  const label = expect.field ? `${expect.field} ${path}` : path;
  const a = await readNpy(path, { label, shared: !!expect.shared });
  const want = `[${expect.rows ?? 'any'}, ${expect.cols ?? 'any'}]`;
  if (
    a.shape.length !== 2 ||
    (expect.rows !== undefined && a.shape[0] !== expect.rows) ||
    (expect.cols !== undefined && a.shape[1] !== expect.cols)
  ) {
    throw new AttnfitError(ErrorCodes.SHAPE_MISMATCH, `${label}: shape ${formatShape(a.shape)}, expected ${want}`, {
      details: {
        field: expect.field,
        file: path,
        shape: a.shape,
        expected: [expect.rows ?? null, expect.cols ?? null],
      },
    });
  }
  checkFinite(a, label);
  return { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data };
}
