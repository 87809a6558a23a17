/**
 * The in-memory form every reader returns: float64, C (row-major) order, plus the shape and the
 * dtype the file stored (so messages and reports can say what was read).
 */

/** A dense float64 array in C (row-major) order. `data.length` is the product of `shape`. */
export interface NdArray {
  /** Dimensions, outermost first ([] for a 0-d scalar). */
  readonly shape: readonly number[];
  /** Elements in C order, converted to float64. */
  readonly data: Float64Array;
  /** The dtype as stored in the file, e.g. '<f8', '>f4' (npy) or 'F64', 'F32' (safetensors). */
  readonly dtype: string;
}

/** Options for readers. */
export interface ReadOptions {
  /**
   * Allocate the result's Float64Array on a SharedArrayBuffer (so a piscina pool can share it
   * with every thread without copies). Default false.
   */
  shared?: boolean;
}

/** Allocate `len` float64 elements, on a SharedArrayBuffer when `shared`. */
export function allocF64(len: number, shared = false): Float64Array {
  return shared ? new Float64Array(new SharedArrayBuffer(len * 8)) : new Float64Array(len);
}

/** Product of the dimensions (1 for a 0-d shape). */
export function shapeSize(shape: readonly number[]): number {
  let s = 1;
  for (const v of shape) s *= v;
  return s;
}

/** `[4, 3]` — how shapes appear in messages. */
export function formatShape(shape: readonly number[]): string {
  return shape.length <= 8
    ? `[${shape.join(', ')}]`
    : `[${shape.slice(0, 8).join(', ')}, … (${shape.length} dimensions)]`;
}

/**
 * Decode `count` numbers of a float dtype from `bytes` (at `offset`) into a new float64 array.
 * `itemBytes` is 4 or 8; `littleEndian` says the stored byte order.
 */
export function decodeFloats(
  bytes: Uint8Array,
  offset: number,
  count: number,
  itemBytes: 4 | 8,
  littleEndian: boolean,
  shared: boolean,
): Float64Array {
  const out = allocF64(count, shared);
  const nativeLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleEndian === nativeLE) {
    // View the bytes when aligned, else copy into an aligned buffer first; no per-element calls.
    const at = bytes.byteOffset + offset;
    const raw =
      at % itemBytes === 0
        ? new Uint8Array(bytes.buffer, at, count * itemBytes)
        : bytes.slice(offset, offset + count * itemBytes);
    if (itemBytes === 8) out.set(new Float64Array(raw.buffer, raw.byteOffset, count));
    else out.set(new Float32Array(raw.buffer, raw.byteOffset, count));
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, count * itemBytes);
  if (itemBytes === 8) for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, littleEndian);
  else for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, littleEndian);
  return out;
}

/**
 * Reorder Fortran-order (column-major) data of `shape` into C order. For 2-d this is a
 * transpose; any rank is handled.
 */
export function fortranToC(src: Float64Array, shape: readonly number[], shared: boolean): Float64Array {
  const nd = shape.length;
  const out = allocF64(src.length, shared);
  if (nd < 2 || src.length === 0) {
    out.set(src);
    return out;
  }
  if (nd === 2) {
    const r = shape[0]!,
      c = shape[1]!;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = src[j * r + i]!;
    return out;
  }
  // General rank: walk C order with an index counter; Fortran strides are prefix products.
  const fstride = new Array<number>(nd);
  fstride[0] = 1;
  for (let k = 1; k < nd; k++) fstride[k] = fstride[k - 1]! * shape[k - 1]!;
  const idx = new Array<number>(nd).fill(0);
  for (let lin = 0; lin < src.length; lin++) {
    let off = 0;
    for (let k = 0; k < nd; k++) off += idx[k]! * fstride[k]!;
    out[lin] = src[off]!;
    for (let k = nd - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}
