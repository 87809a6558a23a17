/**
 * NumPy `.npy` format, versions 1.0, 2.0 and 3.0 (numpy/lib/format.py):
 *
 *   "\x93NUMPY" major minor | header length (uint16 LE for v1, uint32 LE for v2/v3) |
 *   header: a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }
 *   padded with spaces and ending in '\n' (latin-1 for v1/v2, UTF-8 for v3) | raw data.
 *
 * Reads float64 and float32 in either byte order, C or Fortran order (Fortran is reordered to
 * C on read), any rank. Writes '<f8', C order, version 1.0 (2.0 only if the header would not fit).
 * Pure over bytes: file access lives in ./files.ts.
 */
import { AttnfitError, ErrorCodes } from '../core/index.js';
import { decodeFloats, fortranToC, formatShape, shapeSize, type NdArray, type ReadOptions } from './ndarray.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/**
 * Largest header accepted. numpy itself refuses headers over 10 000 bytes by default
 * (`max_header_size`); a float array's header is ~120 bytes. Bounds the parse of a hostile header.
 */
export const NPY_MAX_HEADER_BYTES = 1 << 20;
/** Most dimensions accepted (numpy's own limit is 64). */
export const NPY_MAX_DIMS = 64;

/** dtypes we read: descr → [bytes per item, little-endian]. */
const FLOAT_DTYPES: Readonly<Record<string, readonly [4 | 8, boolean]>> = Object.freeze({
  '<f8': [8, true],
  '>f8': [8, false],
  '<f4': [4, true],
  '>f4': [4, false],
});

function badFile(name: string, what: string, cause?: unknown): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_FILE, `${name}: ${what}`, {
    details: { file: name },
    ...(cause === undefined ? {} : { cause }),
  });
}

// ---- a tiny parser for the Python literal subset numpy writes in headers ----

type PyValue = string | number | boolean | null | PyValue[] | PyTuple | Map<string, PyValue>;
class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

class HeaderParser {
  private i = 0;
  constructor(private readonly s: string) {}
  fail(what: string): never {
    // Quote the header around the failure, never all of it (a hostile header can be 1 MiB).
    const from = Math.max(0, this.i - 40);
    const near = this.s.slice(from, this.i + 40).trim();
    throw new Error(`${what} at character ${this.i} of the header${near ? ` (near ${JSON.stringify(near)})` : ''}`);
  }
  ws(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) this.i++;
      else return;
    }
  }
  peek(): string {
    this.ws();
    return this.s[this.i] ?? '';
  }
  eat(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}'`);
    this.i++;
  }
  parseTop(): PyValue {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected trailing text');
    return v;
  }
  value(): PyValue {
    const c = this.peek();
    if (c === '{') return this.seq('{', '}', true) as Map<string, PyValue>;
    if (c === '(') return new PyTuple(this.seq('(', ')', false) as PyValue[]);
    if (c === '[') return this.seq('[', ']', false) as PyValue[];
    if (c === "'" || c === '"') return this.str();
    const m = /^(True|False|None|[-+]?\d+L?)/.exec(this.s.slice(this.i));
    if (!m) this.fail('unexpected token');
    this.i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace(/L$/, ''));
  }
  seq(open: string, close: string, dict: boolean): Map<string, PyValue> | PyValue[] {
    this.eat(open);
    const map = new Map<string, PyValue>();
    const arr: PyValue[] = [];
    while (this.peek() !== close) {
      if (this.i >= this.s.length) this.fail(`missing '${close}'`);
      if (dict) {
        const k = this.value();
        if (typeof k !== 'string') this.fail('dict key is not a string');
        this.eat(':');
        if (map.has(k)) this.fail(`duplicate key '${k}'`);
        map.set(k, this.value());
      } else arr.push(this.value());
      if (this.peek() === ',') this.i++;
      else if (this.peek() !== close) this.fail(`expected ',' or '${close}'`);
    }
    this.i++;
    return dict ? map : arr;
  }
  str(): string {
    const q = this.s[this.i++]!;
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== q) {
      const ch = this.s[this.i++]!;
      if (ch === '\\') {
        const e = this.s[this.i++] ?? '';
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
      } else out += ch;
    }
    if (this.s[this.i] !== q) this.fail('unterminated string');
    this.i++;
    return out;
  }
}

/** What a .npy header says, before the data is decoded. */
export interface NpyHeader {
  /** [major, minor] format version. */
  version: [number, number];
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data from the start of the file. */
  dataOffset: number;
}

/**
 * Parse and validate the header of a .npy byte string.
 * @param bytes the whole file (or at least its header)
 * @param name the file name used in error messages
 * @throws AttnfitError BAD_FILE (bad magic, version, header), BAD_DTYPE (not float32/float64)
 */
export function parseNpyHeader(bytes: Uint8Array, name: string): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw badFile(
      name,
      `not a .npy file (the first bytes are not the \\x93NUMPY magic; ${bytes.length} bytes in file)`,
    );
  }
  const major = bytes[6]!,
    minor = bytes[7]!;
  if (major < 1 || major > 3 || minor !== 0)
    throw badFile(name, `unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw badFile(name, 'truncated .npy header');
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (hlen > NPY_MAX_HEADER_BYTES)
    throw badFile(
      name,
      `.npy header length ${hlen} is larger than ${NPY_MAX_HEADER_BYTES} bytes (a float array's header is ~120 bytes)`,
    );
  if (start + hlen > bytes.length)
    throw badFile(name, `truncated .npy header: header length ${hlen} but only ${bytes.length - start} bytes follow`);
  const headerBytes = bytes.subarray(start, start + hlen);
  const text = major === 3 ? new TextDecoder('utf-8', { fatal: false }).decode(headerBytes) : latin1(headerBytes);

  let dict: PyValue;
  try {
    dict = new HeaderParser(text).parseTop();
  } catch (e) {
    throw badFile(name, `malformed .npy header: ${(e as Error).message}`, e);
  }
  if (!(dict instanceof Map)) throw badFile(name, 'malformed .npy header: not a dict');
  const keys = [...dict.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw badFile(name, `malformed .npy header: keys are {${keys.join(', ')}}, expected {descr, fortran_order, shape}`);
  }
  const descr = dict.get('descr')!,
    fo = dict.get('fortran_order')!,
    shp = dict.get('shape')!;
  if (typeof fo !== 'boolean') throw badFile(name, 'malformed .npy header: fortran_order is not True/False');
  if (!(shp instanceof PyTuple) || shp.items.some((v) => typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
    throw badFile(name, 'malformed .npy header: shape is not a tuple of non-negative integers');
  }
  const shape = (shp.items as number[]).slice();
  if (shape.length > NPY_MAX_DIMS)
    throw badFile(name, `shape has ${shape.length} dimensions (at most ${NPY_MAX_DIMS} are supported)`);
  if (!Number.isSafeInteger(shapeSize(shape))) throw badFile(name, `shape ${formatShape(shape)} is too large`);
  if (typeof descr !== 'string') {
    throw new AttnfitError(
      ErrorCodes.BAD_DTYPE,
      `${name}: structured dtype is not supported: save a plain float64 or float32 array`,
      { details: { file: name } },
    );
  }
  if (!Object.hasOwn(FLOAT_DTYPES, descr)) {
    throw new AttnfitError(
      ErrorCodes.BAD_DTYPE,
      `${name}: dtype '${descr}' (${describeDescr(descr)}) is not supported: use float64 or float32 (e.g. arr.astype(np.float64))`,
      { details: { file: name, dtype: descr } },
    );
  }
  return { version: [major, minor], descr, fortranOrder: fo, shape, dataOffset: start + hlen };
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function describeDescr(descr: string): string {
  const kind = descr.replace(/^[<>|=]/, '')[0];
  switch (kind) {
    case 'b':
      return 'bool';
    case 'i':
      return 'signed integer';
    case 'u':
      return 'unsigned integer';
    case 'f':
      return 'float of this width';
    case 'c':
      return 'complex';
    case 'U':
    case 'S':
      return 'string';
    case 'O':
      return 'Python object';
    case 'M':
    case 'm':
      return 'datetime';
    default:
      return 'unknown';
  }
}

/**
 * Decode a whole .npy file into a float64 C-order array.
 * @param bytes the file contents
 * @param name the file name used in error messages
 * @param opts `shared`: allocate on a SharedArrayBuffer
 * @throws AttnfitError BAD_FILE (bad magic/header, truncated or oversized data), BAD_DTYPE
 * @example const a = decodeNpy(readFileSync('X.npy'), 'X.npy'); a.shape // [4, 4]
 */
export function decodeNpy(bytes: Uint8Array, name: string, opts: ReadOptions = {}): NdArray {
  const h = parseNpyHeader(bytes, name);
  checkNpyDataSize(h, bytes.length - h.dataOffset, name);
  return npyFromData(h, bytes.subarray(h.dataOffset), !!opts.shared);
}

/** Bytes per element of a header's dtype (the header was validated by parseNpyHeader). */
export function npyItemBytes(h: NpyHeader): 4 | 8 {
  return FLOAT_DTYPES[h.descr]![0];
}

/**
 * Throw BAD_FILE unless exactly `have` data bytes follow the header (truncated or trailing data).
 */
export function checkNpyDataSize(h: NpyHeader, have: number, name: string): void {
  const need = shapeSize(h.shape) * npyItemBytes(h);
  if (have < need) {
    throw badFile(
      name,
      `truncated: header says shape ${formatShape(h.shape)} of '${h.descr}' (${need} bytes of data) but the file has ${have}`,
    );
  }
  if (have > need) {
    throw badFile(
      name,
      `size mismatch: header says shape ${formatShape(h.shape)} of '${h.descr}' (${need} bytes of data) but the file has ${have}`,
    );
  }
}

/** True when the data bytes can be copied verbatim into a C-order float64 array. */
export function npyIsNativeF64C(h: NpyHeader): boolean {
  const nativeLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return h.descr === (nativeLE ? '<f8' : '>f8') && !(h.fortranOrder && h.shape.length >= 2);
}

/** Decode the data bytes (exactly the size the header says) to float64 C order. */
export function npyFromData(h: NpyHeader, data: Uint8Array, shared: boolean): NdArray {
  const [item, le] = FLOAT_DTYPES[h.descr]!;
  const fortran = h.fortranOrder && h.shape.length >= 2;
  let out = decodeFloats(data, 0, shapeSize(h.shape), item, le, shared && !fortran);
  if (fortran) out = fortranToC(out, h.shape, shared);
  return { shape: h.shape, data: out, dtype: h.descr };
}

/**
 * Encode float64 data of `shape` (C order) as a '<f8' .npy file, version 1.0 (2.0 if the header
 * exceeds 65535 bytes). The header is padded so the data starts on a 64-byte boundary.
 * @throws AttnfitError INTERNAL when data.length does not match the shape (a programming error)
 * @example writeFileSync('X.npy', encodeNpy(X, [d, d]))
 */
export function encodeNpy(data: ArrayLike<number>, shape: readonly number[]): Uint8Array {
  if (shape.some((v) => !Number.isSafeInteger(v) || v < 0) || shapeSize(shape) !== data.length) {
    throw new AttnfitError(
      ErrorCodes.INTERNAL,
      `encodeNpy: shape ${formatShape(shape)} does not match ${data.length} elements`,
    );
  }
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f8', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  let major = 1,
    pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    major = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const hlen = total - pre;
  const header = dict + ' '.repeat(hlen - dict.length - 1) + '\n';
  const out = new Uint8Array(total + data.length * 8);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  const nativeLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (nativeLE) new Float64Array(out.buffer, total, data.length).set(data);
  else for (let i = 0; i < data.length; i++) dv.setFloat64(total + i * 8, data[i]!, true);
  return out;
}
