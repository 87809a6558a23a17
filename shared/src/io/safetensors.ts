/**
 * `.safetensors` (huggingface/safetensors): 8-byte little-endian uint64 N | N bytes of JSON
 * header {"name": {"dtype": "F64", "shape": [4, 3], "data_offsets": [begin, end]}, …,
 * "__metadata__": {string: string}} | data buffer. Offsets are relative to the data buffer; all
 * tensors are little-endian, C order. Tensors must tile the buffer exactly (no gaps, no overlap).
 *
 * Reads F64 and F32 (other dtypes → BAD_DTYPE); writes F64 or F32. Pure over bytes.
 */
import { AttnfitError, ErrorCodes, formatValue } from '../core/index.js';
import { decodeFloats, formatShape, shapeSize, type NdArray, type ReadOptions } from './ndarray.js';

/** Safetensors dtypes we read → bytes per element. */
const ITEM_BYTES: Readonly<Record<string, 4 | 8>> = Object.freeze({ F64: 8, F32: 4 });
/** Header larger than this is refused (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
/** Most dimensions a tensor may have (as for .npy). */
const MAX_DIMS = 64;

/** How messages name a tensor: a hostile header's very long names are cut. */
function tensorLabel(key: string): string {
  return key.length <= 80 ? `tensor '${key}'` : `tensor '${key.slice(0, 60)}…' (a ${key.length}-character name)`;
}

function badFile(name: string, what: string, cause?: unknown): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_FILE, `${name}: ${what}`, {
    details: { file: name },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** One entry of a safetensors header, validated. */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** [begin, end) relative to the data buffer. */
  dataOffsets: [number, number];
}

/** A parsed safetensors header. */
export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Byte offset of the data buffer from the start of the file (8 + N). */
  dataStart: number;
}

const ALL_DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
});

/**
 * Parse and validate a safetensors header: JSON shape, dtypes, shapes, offsets (each tensor's
 * byte length equals its element count × item size; tensors tile the data buffer exactly).
 * Unsupported dtypes are reported only when the tensor is decoded.
 * @param bytes the file, or at least its first 8 + N bytes (then pass `fileSize`)
 * @param fileSize total file size in bytes (default bytes.length)
 * @throws AttnfitError BAD_FILE naming the file (and the tensor)
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  name: string,
  fileSize: number = bytes.length,
): SafetensorsHeader {
  if (fileSize < 8 || bytes.length < 8)
    throw badFile(name, `not a .safetensors file (${fileSize} bytes, shorter than the 8-byte header length)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES) || Number(n) > fileSize - 8) {
    throw badFile(
      name,
      `not a .safetensors file or truncated: header length ${n} but the file has ${fileSize - 8} bytes after it`,
    );
  }
  if (Number(n) > bytes.length - 8) throw badFile(name, 'internal: header bytes not supplied');
  const hlen = Number(n);
  const text = new TextDecoder('utf-8').decode(bytes.subarray(8, 8 + hlen));
  if (!text.startsWith('{')) throw badFile(name, 'not a .safetensors file: header does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badFile(name, `malformed safetensors header JSON: ${(e as Error).message}`, e);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw badFile(name, 'malformed safetensors header: not a JSON object');
  const dataStart = 8 + hlen;
  const bufLen = fileSize - dataStart;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [key, raw] of Object.entries(json as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (
        raw === null ||
        typeof raw !== 'object' ||
        Array.isArray(raw) ||
        Object.values(raw).some((v) => typeof v !== 'string')
      ) {
        throw badFile(name, 'malformed safetensors header: __metadata__ must map strings to strings');
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const where = tensorLabel(key);
    if (e === null || typeof e !== 'object') throw badFile(name, `${where}: entry is not an object`);
    if (typeof e.dtype !== 'string' || !Object.hasOwn(ALL_DTYPE_BYTES, e.dtype))
      throw badFile(name, `${where}: unknown dtype ${formatValue(e.dtype)}`);
    if (!Array.isArray(e.shape) || e.shape.some((v) => !Number.isSafeInteger(v) || v < 0))
      throw badFile(name, `${where}: shape is not a list of non-negative integers`);
    if (e.shape.length > MAX_DIMS)
      throw badFile(name, `${where}: shape has ${e.shape.length} dimensions (at most ${MAX_DIMS} are supported)`);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      off.some((v) => !Number.isSafeInteger(v) || v < 0) ||
      off[0] > off[1]
    ) {
      throw badFile(name, `${where}: data_offsets must be [begin, end] with 0 <= begin <= end`);
    }
    const shape = e.shape as number[];
    const want = shapeSize(shape) * ALL_DTYPE_BYTES[e.dtype]!;
    if (off[1] - off[0] !== want) {
      throw badFile(
        name,
        `${where}: data_offsets [${off[0]}, ${off[1]}] span ${off[1] - off[0]} bytes but shape ${formatShape(shape)} of ${e.dtype} needs ${want}`,
      );
    }
    if (off[1] > bufLen)
      throw badFile(
        name,
        `${where}: truncated: data ends at byte ${off[1]} of the data buffer but the buffer has ${bufLen}`,
      );
    tensors.set(key, { dtype: e.dtype, shape, dataOffsets: [off[0], off[1]] });
  }
  // Tensors must tile the buffer: sorted by begin, each starts where the previous ended.
  const sorted = [...tensors.entries()].sort(
    (a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1],
  );
  let pos = 0;
  for (const [key, t] of sorted) {
    if (t.dataOffsets[0] !== pos) {
      throw badFile(
        name,
        t.dataOffsets[0] < pos
          ? `${tensorLabel(key)} overlaps another tensor`
          : `gap in the data buffer before ${tensorLabel(key)}`,
      );
    }
    pos = t.dataOffsets[1];
  }
  if (pos !== bufLen) throw badFile(name, `data buffer has ${bufLen} bytes but the tensors cover ${pos}`);
  return { tensors, metadata, dataStart };
}

/**
 * Decode every tensor of a safetensors file (F64/F32) to float64.
 * @param bytes the file contents
 * @param name file name for messages
 * @param opts `only`: decode just these tensor names (others are validated but not decoded,
 *   so their dtype does not matter); `shared`: SharedArrayBuffer-backed results.
 * @throws AttnfitError BAD_FILE, BAD_DTYPE ("F16" etc., naming the tensor)
 * @example const t = decodeSafetensors(bytes, 'p.safetensors'); t.get('A1')!.shape
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  name: string,
  opts: ReadOptions & { only?: readonly string[] } = {},
): Map<string, NdArray> {
  const h = parseSafetensorsHeader(bytes, name);
  const out = new Map<string, NdArray>();
  for (const [key, t] of h.tensors) {
    if (opts.only && !opts.only.includes(key)) continue;
    const item = safetensorsItemBytes(t, key, name);
    const data = decodeFloats(bytes, h.dataStart + t.dataOffsets[0], shapeSize(t.shape), item, true, !!opts.shared);
    out.set(key, { shape: t.shape, data, dtype: t.dtype });
  }
  return out;
}

/**
 * Bytes per element of a tensor we can decode (F64 → 8, F32 → 4).
 * @throws AttnfitError BAD_DTYPE naming the file and the tensor
 */
export function safetensorsItemBytes(t: SafetensorsEntry, key: string, name: string): 4 | 8 {
  const item = Object.hasOwn(ITEM_BYTES, t.dtype) ? ITEM_BYTES[t.dtype] : undefined;
  if (!item) {
    throw new AttnfitError(
      ErrorCodes.BAD_DTYPE,
      `${name}: ${tensorLabel(key)} has dtype ${t.dtype}, which is not supported: use F64 or F32`,
      { details: { file: name, tensor: key, dtype: t.dtype } },
    );
  }
  return item;
}

/** A tensor to write: float64 values in C order, stored as F64 (default) or F32. */
export interface SafetensorsInput {
  shape: readonly number[];
  data: ArrayLike<number>;
  dtype?: 'F64' | 'F32';
}

/**
 * Encode tensors (in the given key order) as a safetensors file. The header is padded with
 * spaces to a multiple of 8 bytes so every F64 tensor is 8-byte aligned.
 * @throws AttnfitError INTERNAL when a tensor's data length does not match its shape
 * @example encodeSafetensors({ A1: { shape: [n, d], data: A1 } })
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let pos = 0;
  const entries = Object.entries(tensors);
  for (const [key, t] of entries) {
    if (shapeSize(t.shape) !== t.data.length) {
      throw new AttnfitError(
        ErrorCodes.INTERNAL,
        `encodeSafetensors: tensor '${key}' shape ${formatShape(t.shape)} does not match ${t.data.length} elements`,
      );
    }
    const bytesLen = t.data.length * ((t.dtype ?? 'F64') === 'F64' ? 8 : 4);
    header[key] = { dtype: t.dtype ?? 'F64', shape: [...t.shape], data_offsets: [pos, pos + bytesLen] };
    pos += bytesLen;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    hb = enc.encode(json);
  }
  const out = new Uint8Array(8 + hb.length + pos);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let at = 8 + hb.length;
  for (const [, t] of entries) {
    if ((t.dtype ?? 'F64') === 'F64') {
      for (let i = 0; i < t.data.length; i++) dv.setFloat64(at + i * 8, t.data[i]!, true);
      at += t.data.length * 8;
    } else {
      for (let i = 0; i < t.data.length; i++) dv.setFloat32(at + i * 4, t.data[i]!, true);
      at += t.data.length * 4;
    }
  }
  return out;
}
