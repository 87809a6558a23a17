/**
 * The problem blob stored once in the Object Store: a small header then A1, A2, A3, B as raw
 * little-endian float64 (n×d row-major each). Its sha256 is the content hash workers cache by.
 */
import { createHash } from 'node:crypto';
import { AttnfitError, ErrorCodes, type Problem } from '@attnfit/shared/core';
import { problemObjectName, problemPartName } from './subjects.js';
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

/**
 * The problem in `bytes` as views of that very buffer when it can be (little-endian host, tensors
 * 8-byte aligned): no copy, so a worker loading a big problem holds the blob and its threads'
 * copy, not a third one. Falls back to {@link unpackProblem} (a copy) otherwise.
 */
export function problemViews(bytes: Uint8Array): Problem {
  if (!isLE || (bytes.byteOffset + HEADER_BYTES) % 8 !== 0 || bytes.length < HEADER_BYTES) return unpackProblem(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) return unpackProblem(bytes);
  const n = dv.getUint32(4, true);
  const d = dv.getUint32(8, true);
  const nd = n * d;
  if (bytes.length !== HEADER_BYTES + 32 * nd) return unpackProblem(bytes);
  const all = new Float64Array(bytes.buffer as ArrayBuffer, bytes.byteOffset + HEADER_BYTES, 4 * nd);
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

/** Bytes of the packed blob of an n×d problem (16-byte header + four n×d float64 tensors). */
export function problemBlobBytes(n: number, d: number): number {
  return HEADER_BYTES + 32 * n * d;
}

/**
 * The manifest of a problem stored in parts (`problem-<sha256>` in the problems bucket): the
 * blob is cut into parts of `partBytes` (the last one shorter), each stored as its own object
 * ({@link problemPartName}) and listed here by its sha256. Parts are written first and the
 * manifest last, so an interrupted upload leaves no manifest and resumes part by part.
 */
export interface ProblemManifest {
  kind: 'attnfit-problem-manifest';
  v: 1;
  /** sha256 of the whole blob (the problem's content hash). */
  hash: string;
  n: number;
  d: number;
  /** Blob bytes. */
  bytes: number;
  /** Part size in bytes (every part but the last). */
  partBytes: number;
  /** sha256 (hex) of each part, in order. */
  parts: string[];
}

/** Largest manifest accepted (a manifest lists 64 hex characters per part). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const HEX64 = /^[0-9a-f]{64}$/;

/** Part `i` of `blob` cut in parts of `partBytes`. */
export function blobPart(blob: Uint8Array, partBytes: number, i: number): Uint8Array {
  return blob.subarray(i * partBytes, Math.min(blob.length, (i + 1) * partBytes));
}

/** The manifest of `blob` (whose reference is `ref`) cut in parts of `partBytes` bytes. */
export function problemManifest(blob: Uint8Array, ref: ProblemRef, partBytes: number): ProblemManifest {
  if (!Number.isSafeInteger(partBytes) || partBytes < 1)
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `partBytes: must be an integer >= 1 (got ${partBytes})`);
  const count = Math.max(1, Math.ceil(blob.length / partBytes));
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(sha256Hex(blobPart(blob, partBytes, i)));
  return {
    kind: 'attnfit-problem-manifest',
    v: 1,
    hash: ref.hash,
    n: ref.n,
    d: ref.d,
    bytes: blob.length,
    partBytes,
    parts,
  };
}

/** The manifest's bytes (JSON with a fixed key order, so equal manifests have equal bytes). */
export function encodeManifest(m: ProblemManifest): Uint8Array {
  const { kind, v, hash, n, d, bytes, partBytes, parts } = m;
  return new TextEncoder().encode(JSON.stringify({ kind, v, hash, n, d, bytes, partBytes, parts }));
}

/**
 * Decode and check a manifest against the reference it was read for: PROTOCOL naming the object
 * and the field when it is malformed or describes another problem.
 */
export function decodeManifest(bytes: Uint8Array, ref: ProblemRef): ProblemManifest {
  const bad = (what: string): AttnfitError =>
    new AttnfitError(ErrorCodes.PROTOCOL, `problem ${ref.object}: bad manifest (${what})`, {
      details: { object: ref.object },
    });
  if (bytes.length > MAX_MANIFEST_BYTES) throw bad(`${bytes.length} bytes`);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch {
    throw bad('not JSON');
  }
  if (typeof m !== 'object' || m === null || m.kind !== 'attnfit-problem-manifest' || m.v !== 1)
    throw bad('kind / version');
  if (m.hash !== ref.hash) throw bad(`hash ${String(m.hash)}`);
  if (m.n !== ref.n || m.d !== ref.d) throw bad(`shape ${String(m.n)}×${String(m.d)} vs ${ref.n}×${ref.d}`);
  const total = problemBlobBytes(ref.n, ref.d);
  if (m.bytes !== total) throw bad(`bytes ${String(m.bytes)} vs ${total}`);
  const partBytes = m.partBytes;
  if (typeof partBytes !== 'number' || !Number.isSafeInteger(partBytes) || partBytes < 1)
    throw bad(`partBytes ${String(partBytes)}`);
  const parts = m.parts;
  if (
    !Array.isArray(parts) ||
    parts.length !== Math.max(1, Math.ceil(total / partBytes)) ||
    !parts.every((p) => typeof p === 'string' && HEX64.test(p))
  )
    throw bad('parts');
  return { kind: 'attnfit-problem-manifest', v: 1, hash: ref.hash, n: ref.n, d: ref.d, bytes: total, partBytes, parts };
}

/** Reads whole objects by name (an Object Store: `getBlob`; null when absent). */
export interface BlobSource {
  getBlob(name: string): Promise<Uint8Array | null>;
}

/**
 * Read a problem's blob by reference and verify it: the manifest must describe `ref`, every part
 * must hash to its manifest entry and the whole blob to `ref.hash` (the name) — never trusted by
 * size or by the store's metadata. A blob stored whole under the name (no manifest: older
 * clients, tests) is accepted when its hash matches. Rejects NOT_FOUND for a missing object or
 * part, PROTOCOL naming the object for content that does not match.
 * @example const blob = await readProblemBlob(os, ref); const p = unpackProblem(blob);
 */
export async function readProblemBlob(
  src: BlobSource,
  ref: ProblemRef,
  o: { onPart?: (index: number, count: number) => void } = {},
): Promise<Uint8Array> {
  const head = await getVerifiable(src, ref.object, ref);
  if (!head) throw new AttnfitError(ErrorCodes.NOT_FOUND, `problem ${ref.object}: not in the object store`);
  if (head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === MAGIC) {
    checkHash(head, ref, ref.object);
    return head;
  }
  const m = decodeManifest(head, ref);
  const out = new Uint8Array(m.bytes);
  const whole = createHash('sha256');
  for (let i = 0; i < m.parts.length; i++) {
    const name = problemPartName(ref.hash, m.partBytes, i);
    const part = await getVerifiable(src, name, ref);
    if (!part) throw new AttnfitError(ErrorCodes.NOT_FOUND, `problem ${ref.object}: part ${name} is missing`);
    const off = i * m.partBytes;
    const want = Math.min(m.partBytes, m.bytes - off);
    if (part.length !== want || sha256Hex(part) !== m.parts[i])
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `problem ${ref.object}: part ${name} does not match its manifest (content hash or size)`,
        { details: { object: name } },
      );
    out.set(part, off);
    whole.update(part);
    o.onPart?.(i, m.parts.length);
  }
  const got = whole.digest('hex');
  if (got !== ref.hash)
    throw new AttnfitError(ErrorCodes.PROTOCOL, `problem ${ref.object}: content hash ${got} does not match the name`, {
      details: { object: ref.object },
    });
  return out;
}

function checkHash(blob: Uint8Array, ref: ProblemRef, name: string): void {
  const got = sha256Hex(blob);
  if (got !== ref.hash)
    throw new AttnfitError(ErrorCodes.PROTOCOL, `problem ${name}: content hash ${got} does not match ${ref.hash}`, {
      details: { object: name },
    });
}

/** getBlob, with the store's own digest failure ("corrupt object") turned into PROTOCOL. */
async function getVerifiable(src: BlobSource, name: string, ref: ProblemRef): Promise<Uint8Array | null> {
  try {
    return await src.getBlob(name);
  } catch (err) {
    if (/digest|corrupt/i.test((err as Error).message ?? ''))
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `problem ${ref.object}: object ${name} is corrupt (${(err as Error).message.split('\n')[0]})`,
        {
          cause: err,
          details: { object: name },
        },
      );
    throw err;
  }
}
