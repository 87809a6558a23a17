/**
 * The problem blob stored once in the Object Store: a small header then A1, A2, A3, B as raw
 * little-endian float64 (n×d row-major each). Its sha256 is the content hash workers cache by.
 */
import { createHash } from 'node:crypto';
import { AttnfitError, ErrorCodes, type Problem } from '@attnfit/shared/core';
import { problemObjectName } from './subjects.js';
import type { ProblemRef } from './types.js';

const MAGIC = 0x31504641; // "AFP1" little-endian
const HEADER_BYTES = 16;

const isLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Pack a problem into its blob bytes (16-byte header + 4·n·d float64 little-endian). */
export function packProblem(p: Problem): Uint8Array {
  const nd = p.n * p.d;
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) {
    if (p[k].length !== nd)
      throw new AttnfitError(
        ErrorCodes.SHAPE_MISMATCH,
        `${k}: expected ${p.n}×${p.d} = ${nd} numbers (got ${p[k].length})`,
      );
  }
  const out = new Uint8Array(HEADER_BYTES + 4 * nd * 8);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, p.n, true);
  dv.setUint32(8, p.d, true);
  dv.setUint32(12, 0, true);
  let off = HEADER_BYTES;
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) {
    const a = p[k];
    if (isLE) out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    else for (let i = 0; i < nd; i++) dv.setFloat64(off + 8 * i, a[i]!, true);
    off += nd * 8;
  }
  return out;
}

/**
 * Unpack a problem blob. With `into`, the tensors are views of that buffer (e.g. a
 * SharedArrayBuffer for the worker threads); otherwise of a fresh ArrayBuffer.
 */
export function unpackProblem(bytes: Uint8Array, into?: SharedArrayBuffer | ArrayBuffer): Problem {
  if (bytes.length < HEADER_BYTES)
    throw new AttnfitError(ErrorCodes.BAD_FILE, `problem blob: ${bytes.length} bytes is shorter than its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new AttnfitError(ErrorCodes.BAD_FILE, 'problem blob: bad magic');
  const n = dv.getUint32(4, true);
  const d = dv.getUint32(8, true);
  const nd = n * d;
  if (bytes.length !== HEADER_BYTES + 32 * nd)
    throw new AttnfitError(ErrorCodes.BAD_FILE, `problem blob: ${bytes.length} bytes does not match n=${n} d=${d}`);
  const buf = into ?? new ArrayBuffer(32 * nd);
  if (buf.byteLength < 32 * nd)
    throw new AttnfitError(ErrorCodes.INTERNAL, `problem blob: target buffer of ${buf.byteLength} bytes is too small`);
  const all = new Float64Array(buf, 0, 4 * nd);
  if (isLE) new Uint8Array(buf, 0, 32 * nd).set(bytes.subarray(HEADER_BYTES));
  else for (let i = 0; i < 4 * nd; i++) all[i] = dv.getFloat64(HEADER_BYTES + 8 * i, true);
  return {
    n,
    d,
    A1: all.subarray(0, nd),
    A2: all.subarray(nd, 2 * nd),
    A3: all.subarray(2 * nd, 3 * nd),
    B: all.subarray(3 * nd, 4 * nd),
  };
}

/** Lower-case hex sha256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reference to a packed problem blob (content hash + object name). */
export function problemRef(blob: Uint8Array, n: number, d: number): ProblemRef {
  const hash = sha256Hex(blob);
  return { hash, n, d, object: problemObjectName(hash) };
}
