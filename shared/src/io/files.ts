/**
 * File access for the formats in ./npy.ts and ./safetensors.ts: reads that turn OS errors into
 * AttnfitErrors naming the file, and atomic writes (temp file in the same directory, fsync,
 * rename), so a failure never leaves a half-written output behind.
 */
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { AttnfitError, ErrorCodes } from '../core/index.js';
import { checkNpyDataSize, encodeNpy, npyFromData, npyIsNativeF64C, parseNpyHeader } from './npy.js';
import { encodeSafetensors, parseSafetensorsHeader, safetensorsItemBytes, type SafetensorsInput } from './safetensors.js';
import { allocF64, decodeFloats, shapeSize, type NdArray, type ReadOptions } from './ndarray.js';

function fsReadError(e: unknown, label: string): AttnfitError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new AttnfitError(ErrorCodes.FILE_NOT_FOUND, `${label}: file not found`, { cause: e, details: { file: label } });
  if (code === 'EISDIR') return new AttnfitError(ErrorCodes.BAD_FILE, `${label}: is a directory, expected a file`, { cause: e, details: { file: label } });
  if (code === 'EACCES' || code === 'EPERM') return new AttnfitError(ErrorCodes.BAD_FILE, `${label}: cannot read (permission denied)`, { cause: e, details: { file: label } });
  return new AttnfitError(ErrorCodes.INTERNAL, `${label}: read failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** Read exactly `dst.length` bytes at `position` (in ≤ 1 GiB calls: one read is capped at 2 GiB). */
async function readFully(fh: FileHandle, dst: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < dst.length) {
    const { bytesRead } = await fh.read(dst, done, Math.min(dst.length - done, 1 << 30), position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/**
 * Read a .npy file as float64, C order. Streams: the header is read first and validated, then
 * '<f8' C-order data is read straight into the result (no intermediate copy), so files larger
 * than 2 GiB work too.
 * @throws AttnfitError FILE_NOT_FOUND, BAD_FILE, BAD_DTYPE — messages start with `label`
 * @example const { shape, data } = await readNpy('out/X.npy');
 */
export async function readNpy(path: string, opts: ReadOptions & { label?: string } = {}): Promise<NdArray> {
  const label = opts.label ?? path;
  let fh: FileHandle;
  try { fh = await open(path, 'r'); } catch (e) { throw fsReadError(e, label); }
  try {
    const size = await fileSize(fh, label);
    // Magic + version + header length, then the header itself; parseNpyHeader validates both.
    const pre = new Uint8Array(Math.min(size, 12));
    await readFully(fh, pre, 0);
    let headLen = pre.length;
    if (pre.length >= 12 && pre[0] === 0x93 && pre[1] === 0x4e && pre[6]! >= 1 && pre[6]! <= 3) {
      const dv = new DataView(pre.buffer);
      headLen = Math.min(size, pre[6] === 1 ? 10 + dv.getUint16(8, true) : 12 + dv.getUint32(8, true));
    }
    const head = new Uint8Array(Math.max(headLen, pre.length));
    head.set(pre);
    if (head.length > pre.length) await readFully(fh, head.subarray(pre.length), pre.length);
    const h = parseNpyHeader(head, label);
    checkNpyDataSize(h, size - h.dataOffset, label);
    const need = size - h.dataOffset;
    const shared = !!opts.shared;
    if (npyIsNativeF64C(h)) {
      const data = allocF64(need / 8, shared);
      await readFully(fh, new Uint8Array(data.buffer, 0, need), h.dataOffset);
      return { shape: h.shape, data, dtype: h.descr };
    }
    const buf = new Uint8Array(need);
    await readFully(fh, buf, h.dataOffset);
    return npyFromData(h, buf, shared);
  } catch (e) {
    if (e instanceof AttnfitError) throw e;
    throw fsReadError(e, label);
  } finally {
    await fh.close();
  }
}

/**
 * Read the F64/F32 tensors of a .safetensors file as float64. Streams: the header is read and
 * validated first, then only the wanted tensors (`only`) are read, each straight into place.
 * @throws AttnfitError FILE_NOT_FOUND, BAD_FILE, BAD_DTYPE
 * @example const t = await readSafetensors('p.safetensors', { only: ['A1'] }); t.get('A1')!.shape
 */
export async function readSafetensors(path: string, opts: ReadOptions & { label?: string; only?: readonly string[] } = {}): Promise<Map<string, NdArray>> {
  const label = opts.label ?? path;
  let fh: FileHandle;
  try { fh = await open(path, 'r'); } catch (e) { throw fsReadError(e, label); }
  try {
    const size = await fileSize(fh, label);
    const pre = new Uint8Array(Math.min(size, 8));
    await readFully(fh, pre, 0);
    let headLen = pre.length;
    if (pre.length === 8) {
      const n = new DataView(pre.buffer).getBigUint64(0, true);
      if (n <= BigInt(size - 8)) headLen = 8 + Number(n);
    }
    const head = new Uint8Array(headLen);
    head.set(pre);
    if (headLen > pre.length) await readFully(fh, head.subarray(pre.length), pre.length);
    const h = parseSafetensorsHeader(head, label, size);
    const out = new Map<string, NdArray>();
    const nativeLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    for (const [key, t] of h.tensors) {
      if (opts.only && !opts.only.includes(key)) continue;
      const item = safetensorsItemBytes(t, key, label);
      const count = shapeSize(t.shape), need = count * item;
      let data: Float64Array;
      if (item === 8 && nativeLE) {
        data = allocF64(count, !!opts.shared);
        await readFully(fh, new Uint8Array(data.buffer, 0, need), h.dataStart + t.dataOffsets[0]);
      } else {
        const buf = new Uint8Array(need);
        await readFully(fh, buf, h.dataStart + t.dataOffsets[0]);
        data = decodeFloats(buf, 0, count, item, true, !!opts.shared);
      }
      out.set(key, { shape: t.shape, data, dtype: t.dtype });
    }
    return out;
  } catch (e) {
    if (e instanceof AttnfitError) throw e;
    throw fsReadError(e, label);
  } finally {
    await fh.close();
  }
}

async function fileSize(fh: FileHandle, label: string): Promise<number> {
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return st.size;
  } catch (e) { throw fsReadError(e, label); }
}

function fsWriteError(e: unknown, path: string): AttnfitError {
  if (e instanceof AttnfitError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
    return new AttnfitError(ErrorCodes.BAD_OPTION, `${path}: cannot write there (${code === 'EISDIR' ? 'a directory is in the way' : 'a file is in the way'})`, { cause: e, details: { file: path } });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new AttnfitError(ErrorCodes.BAD_OPTION, `${path}: cannot write (permission denied)`, { cause: e, details: { file: path } });
  }
  return new AttnfitError(ErrorCodes.INTERNAL, `${path}: write failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** One file of an atomic group write. */
export interface FileToWrite {
  path: string;
  data: Uint8Array | string;
}

/**
 * Write several files "all or nothing" as far as a file system allows: every file is first
 * written and fsync'ed to a temp file in its target directory (directories are created), and
 * only when all succeeded are they renamed into place. On failure the temp files are removed
 * and nothing is renamed. Each rename is atomic, so a reader never sees a half-written file.
 * @throws AttnfitError BAD_OPTION (path not writable / blocked), INTERNAL (disk full etc.)
 * @example await writeFilesAtomic([{ path: 'out/X.npy', data: encodeNpy(X, [d, d]) }]);
 */
export async function writeFilesAtomic(files: readonly FileToWrite[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const f of files) {
      const dir = dirname(f.path);
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${basename(f.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      temps.push(tmp);
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(f.data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  } catch (e) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw fsWriteError(e, files[temps.length - 1]?.path ?? '(output)');
  }
  for (let i = 0; i < files.length; i++) {
    try {
      await rename(temps[i]!, files[i]!.path);
    } catch (e) {
      await Promise.all(temps.slice(i).map((t) => rm(t, { force: true })));
      throw fsWriteError(e, files[i]!.path);
    }
  }
}

/** Write one file atomically (temp file + fsync + rename; the directory is created). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeFilesAtomic([{ path, data }]);
}

/**
 * Write float64 `data` of `shape` (C order) as a '<f8' .npy file, atomically.
 * @example await writeNpy('out/gradX.npy', gradX, [d, d]);
 */
export async function writeNpy(path: string, data: ArrayLike<number>, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}

/** Write `value` as pretty JSON (2-space indent, trailing newline), atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Write tensors as a .safetensors file, atomically (see encodeSafetensors). */
export async function writeSafetensors(path: string, tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Check, without creating anything, that `dir` can be used as an output directory: it is a
 * directory or does not exist yet, and no path component above it is a file.
 * @param label how the message names it, e.g. "--out"
 * @throws AttnfitError BAD_OPTION
 */
export async function checkOutputDir(dir: string, label: string): Promise<void> {
  const st = await statOrNull(dir);
  if (st && !st.isDirectory()) throw new AttnfitError(ErrorCodes.BAD_OPTION, `${label} ${dir}: exists and is not a directory`, { details: { field: label, value: dir } });
  if (!st) await checkAncestors(dir, label);
}

/**
 * Check, without creating anything, that `path` can be written as an output file: it is not a
 * directory, and its nearest existing ancestor is a directory.
 * @throws AttnfitError BAD_OPTION
 */
export async function checkOutputFile(path: string, label: string): Promise<void> {
  const st = await statOrNull(path);
  if (st?.isDirectory()) throw new AttnfitError(ErrorCodes.BAD_OPTION, `${label} ${path}: is a directory, expected a file path`, { details: { field: label, value: path } });
  if (!st) await checkAncestors(path, label);
}

async function checkAncestors(path: string, label: string): Promise<void> {
  let p = dirname(path);
  for (;;) {
    const st = await statOrNull(p);
    if (st) {
      if (!st.isDirectory()) throw new AttnfitError(ErrorCodes.BAD_OPTION, `${label} ${path}: ${p} is a file, not a directory`, { details: { field: label, value: path } });
      return;
    }
    const up = dirname(p);
    if (up === p) return;
    p = up;
  }
}

async function statOrNull(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await stat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return null; // an ancestor is a file: checkAncestors reports it
    throw e;
  }
}
