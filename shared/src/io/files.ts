/**
 * File access for the formats in ./npy.ts and ./safetensors.ts: reads that turn OS errors into
 * AttnfitErrors naming the file, and atomic writes (temp file in the same directory, fsync,
 * rename), so a failure never leaves a half-written output behind.
 */
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { AttnfitError, ErrorCodes } from '../core/index.js';
import {
  NPY_MAX_HEADER_BYTES,
  checkNpyDataSize,
  encodeNpy,
  npyFromData,
  npyIsNativeF64C,
  parseNpyHeader,
} from './npy.js';
import {
  encodeSafetensors,
  parseSafetensorsHeader,
  safetensorsItemBytes,
  type SafetensorsInput,
} from './safetensors.js';
import { allocF64, decodeFloats, shapeSize, type NdArray, type ReadOptions } from './ndarray.js';
import { checkTargets, fsReadError, openInputFile } from './paths.js';

/**
 * Read a whole file. `label` is how messages name it (default: the path), e.g. "--x X.npy".
 * Only regular files are read (a FIFO, a device, a symlink loop are refused up front).
 * @throws AttnfitError FILE_NOT_FOUND (missing), BAD_FILE (a directory, FIFO, device, unreadable)
 */
export async function readBytes(path: string, label: string = path): Promise<Uint8Array> {
  const { fh, size } = await openInputFile(path, label);
  try {
    const out = new Uint8Array(size);
    await readFully(fh, out, 0);
    return out;
  } catch (e) {
    throw fsReadError(e, label);
  } finally {
    await fh.close();
  }
}

/**
 * Read a regular file in chunks of at most `chunkBytes` (default 1 MiB), calling `onChunk` for
 * each: memory stays bounded whatever the file size. Reads the size the file had when opened.
 * An error thrown by `onChunk` stops the read and is rethrown.
 * @throws AttnfitError FILE_NOT_FOUND, BAD_FILE
 * @example await readChunks('ops.jsonl', '--ops ops.jsonl', (c) => parser.push(c));
 */
export async function readChunks(
  path: string,
  label: string,
  onChunk: (chunk: Uint8Array) => void,
  chunkBytes = 1 << 20,
): Promise<void> {
  const { fh, size } = await openInputFile(path, label);
  try {
    const buf = new Uint8Array(Math.max(1, Math.min(chunkBytes, size)));
    let pos = 0;
    while (pos < size) {
      let got: number;
      try {
        ({ bytesRead: got } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos));
      } catch (e) {
        throw fsReadError(e, label);
      }
      if (got === 0) break; // truncated while reading: what was there is all there is
      onChunk(buf.subarray(0, got));
      pos += got;
    }
  } finally {
    await fh.close();
  }
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
  const { fh, size } = await openInputFile(path, label);
  try {
    // Magic + version + header length, then the header itself; parseNpyHeader validates both.
    const pre = new Uint8Array(Math.min(size, 12));
    await readFully(fh, pre, 0);
    let headLen = pre.length;
    if (pre.length >= 12 && pre[0] === 0x93 && pre[1] === 0x4e && pre[6]! >= 1 && pre[6]! <= 3) {
      const dv = new DataView(pre.buffer);
      // Never read more than the header limit: parseNpyHeader refuses a longer claim.
      headLen = Math.min(
        size,
        pre[6] === 1 ? 10 + dv.getUint16(8, true) : 12 + Math.min(dv.getUint32(8, true), NPY_MAX_HEADER_BYTES),
      );
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
export async function readSafetensors(
  path: string,
  opts: ReadOptions & { label?: string; only?: readonly string[] } = {},
): Promise<Map<string, NdArray>> {
  const label = opts.label ?? path;
  const { fh, size } = await openInputFile(path, label);
  try {
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
      const count = shapeSize(t.shape),
        need = count * item;
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

function fsWriteError(e: unknown, path: string): AttnfitError {
  if (e instanceof AttnfitError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
    return new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `${path}: cannot write there (${code === 'EISDIR' ? 'a directory is in the way' : 'a file is in the way'})`,
      { cause: e, details: { file: path } },
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new AttnfitError(ErrorCodes.BAD_OPTION, `${path}: cannot write (permission denied)`, {
      cause: e,
      details: { file: path },
    });
  }
  return new AttnfitError(ErrorCodes.INTERNAL, `${path}: write failed: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
  });
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
  // Every target must be replaceable before anything is written: a directory in the way of the
  // last file must not leave the first ones replaced.
  await checkTargets(files.map((f) => f.path));
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
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
