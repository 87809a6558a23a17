/**
 * Paths the operating system makes pathological, refused up front — before any call that might
 * never return or might do damage:
 *
 * - inputs must be regular files: a FIFO blocks `open()` until a writer appears, a character
 *   device such as /dev/zero or /dev/urandom never ends, a symlink loop fails with ELOOP. They
 *   are stat'ed first, opened with O_NONBLOCK (a FIFO swapped in after the stat cannot block)
 *   and stat'ed again;
 * - outputs are never written under a kernel pseudo-file system (/proc, /sys, cgroup, …: Node's
 *   recursive mkdir loops forever on /proc's ENOENT) nor into /dev, never replace a device node,
 *   FIFO or directory (outputs are replaced by rename), and their directory must be writable.
 *
 * Every refusal is an AttnfitError naming the option or file: BAD_FILE for inputs, BAD_OPTION for
 * outputs.
 */
import { constants, type Stats } from 'node:fs';
import { access, lstat, open, realpath, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AttnfitError, ErrorCodes } from '../core/index.js';

/** Kernel pseudo-file systems by statfs f_type (linux/magic.h): outputs are never written there. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x1cd1, 'devpts'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x42494e4d, 'binfmt_misc'],
  [0x65735543, 'fusectl'],
  [0xf97cff8c, 'selinuxfs'],
  [0x19800202, 'mqueue'],
  [0x6e736673, 'nsfs'],
]);

/** What a stat says a path is, for messages. */
export function describeKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/**
 * An OS error while reading `label` as an AttnfitError: FILE_NOT_FOUND (missing), BAD_FILE (a
 * directory, permission denied, a symlink loop, a name too long), INTERNAL otherwise.
 */
export function fsReadError(e: unknown, label: string): AttnfitError {
  if (e instanceof AttnfitError) return e;
  const code = errno(e);
  const bad = (what: string) =>
    new AttnfitError(ErrorCodes.BAD_FILE, `${label}: ${what}`, { cause: e, details: { file: label } });
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new AttnfitError(ErrorCodes.FILE_NOT_FOUND, `${label}: file not found`, {
      cause: e,
      details: { file: label },
    });
  if (code === 'EISDIR') return bad('is a directory, expected a file');
  if (code === 'EACCES' || code === 'EPERM') return bad('cannot read (permission denied)');
  if (code === 'ELOOP') return bad('too many levels of symbolic links (a symlink loop?)');
  if (code === 'ENAMETOOLONG') return bad('file name too long');
  if (code === 'ENXIO' || code === 'ENODEV' || code === 'EAGAIN')
    return bad('cannot be read as a file (a device, socket or FIFO?)');
  return new AttnfitError(ErrorCodes.INTERNAL, `${label}: read failed: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
  });
}

function notRegular(label: string, st: Stats): AttnfitError {
  const hint = st.isFIFO() ? ' (a pipe or process substitution: save the data to a file first)' : '';
  return st.isDirectory()
    ? new AttnfitError(ErrorCodes.BAD_FILE, `${label}: is a directory, expected a file`, { details: { file: label } })
    : new AttnfitError(ErrorCodes.BAD_FILE, `${label}: is ${describeKind(st)}, not a regular file${hint}`, {
        details: { file: label },
      });
}

/**
 * Where a path lies when that is a place attnfit never writes: a kernel pseudo-file system
 * (statfs f_type, then /proc and /sys by path) or /dev (device nodes; /dev/shm is a plain tmpfs
 * and allowed). `where` completes "… is <where>"; `dev` is true for the /dev rule alone.
 */
async function pseudoFsOf(p: string): Promise<{ where: string; real: string; dev: boolean } | undefined> {
  let real = p;
  try {
    real = await realpath(p);
  } catch {
    /* keep the path as given */
  }
  const pseudo = (fs: string) => ({ where: `on ${fs}, a kernel pseudo-file system`, real, dev: false });
  try {
    const name = PSEUDO_FS.get(Number((await statfs(real)).type) >>> 0);
    if (name) return pseudo(name);
  } catch {
    /* no statfs here: the path rules below still apply */
  }
  const under = (top: string) => real === top || real.startsWith(`${top}/`);
  if (under('/proc')) return pseudo('procfs');
  if (under('/sys')) return pseudo('sysfs');
  if (under('/dev') && !under('/dev/shm')) return { where: 'in /dev, the directory of device nodes', real, dev: true };
  return undefined;
}

/**
 * Open `path` for reading, refusing anything but a regular file up front (see the module
 * comment). Returns the handle (the caller closes it) and the file size in bytes.
 * @throws AttnfitError FILE_NOT_FOUND, BAD_FILE ("is a FIFO (named pipe), not a regular file", …)
 */
export async function openInputFile(path: string, label: string = path): Promise<{ fh: FileHandle; size: number }> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    throw fsReadError(e, label);
  }
  if (!st.isFile()) throw notRegular(label, st);
  const pseudo = await pseudoFsOf(path);
  if (pseudo && !pseudo.dev) {
    throw new AttnfitError(ErrorCodes.BAD_FILE, `${label}: is a file ${pseudo.where}, not a data file`, {
      details: { file: label },
    });
  }
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw fsReadError(e, label);
  }
  try {
    const st2 = await fh.stat();
    if (!st2.isFile()) throw notRegular(label, st2);
    return { fh, size: st2.size };
  } catch (e) {
    await fh.close();
    throw fsReadError(e, label);
  }
}

// ---- outputs ----

function badOut(label: string, shown: string, what: string, cause?: unknown): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OPTION, `${label ? `${label} ` : ''}${shown}: ${what}`, {
    details: { field: label, value: shown },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** stat that returns null for "does not exist" and turns loops / long names / EACCES into BAD_OPTION. */
async function outStat(p: string, label: string, shown: string, follow = true): Promise<Stats | null> {
  try {
    return await (follow ? stat(p) : lstat(p));
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null; // an ancestor is a file: nearestDir reports it
    if (code === 'ELOOP') throw badOut(label, shown, `too many levels of symbolic links at ${p} (a symlink loop?)`, e);
    if (code === 'ENAMETOOLONG') throw badOut(label, shown, 'file name too long', e);
    if (code === 'EACCES' || code === 'EPERM') throw badOut(label, shown, `cannot look at ${p} (permission denied)`, e);
    throw e;
  }
}

/** The nearest existing ancestor directory of a path that does not exist (BAD_OPTION if it is a file). */
async function nearestDir(path: string, label: string, shown: string): Promise<string> {
  let p = dirname(path);
  for (;;) {
    const st = await outStat(p, label, shown);
    if (st) {
      if (!st.isDirectory())
        throw badOut(label, shown, `${p} is ${st.isFile() ? 'a file' : describeKind(st)}, not a directory`);
      return p;
    }
    const up = dirname(p);
    if (up === p) return p;
    p = up;
  }
}

/** Refuse a directory on a pseudo-file system or without write permission. */
async function checkDirUsable(dir: string, label: string, shown: string): Promise<void> {
  const pseudo = await pseudoFsOf(dir);
  if (pseudo) throw badOut(label, shown, `${pseudo.real} is ${pseudo.where}: outputs are never written there`);
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = errno(e);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw badOut(
        label,
        shown,
        `cannot write in ${dir} (${code === 'EROFS' ? 'read-only file system' : 'permission denied'})`,
        e,
      );
    }
    throw e;
  }
}

/**
 * Refuse an existing `path` that a rename cannot or must not replace (a directory, a device, a
 * FIFO); with `append`, one that cannot be appended to as a regular file.
 */
async function checkReplaceable(path: string, label: string, shown: string, append = false): Promise<void> {
  const st = await outStat(path, label, shown, false);
  if (!st || st.isFile()) return;
  if (st.isSymbolicLink()) {
    const target = await outStat(path, label, shown); // a loop is refused here
    if (!target || target.isFile()) return;
    throw badOut(label, shown, `${path} is a symbolic link to ${describeKind(target)}, expected a file path`);
  }
  if (st.isDirectory()) {
    throw badOut(
      label,
      shown,
      path === shown ? 'is a directory, expected a file path' : `${path} is a directory in the way of an output file`,
    );
  }
  throw badOut(
    label,
    shown,
    append
      ? `is ${describeKind(st)}, not a regular file${st.isFIFO() || st.isCharacterDevice() ? ' (use "-" for stderr)' : ''}`
      : `${path} is ${describeKind(st)}: outputs are written to a temp file and renamed over the target, which must be a regular file`,
  );
}

/** Options of {@link checkOutputDir}. */
export interface CheckOutputDirOptions {
  /** Names of the files the command will write into the directory: each must be replaceable. */
  files?: readonly string[];
}

/**
 * Check, without creating anything, that `dir` can be used as an output directory: it is a
 * directory or does not exist yet, no path component above it is a file, it is not on a kernel
 * pseudo-file system (/proc, /sys, …) or in /dev, it is writable, and none of `files` inside it
 * is a directory, device or FIFO that a rename cannot replace.
 * @param label how the message names it, e.g. "--out"
 * @throws AttnfitError BAD_OPTION
 * @example await checkOutputDir('fit', '--out', { files: ['X.npy', 'Y.npy'] });
 */
export async function checkOutputDir(dir: string, label: string, opts: CheckOutputDirOptions = {}): Promise<void> {
  const st = await outStat(dir, label, dir);
  if (st && !st.isDirectory())
    throw badOut(label, dir, `exists and is not a directory${st.isFile() ? '' : ` (it is ${describeKind(st)})`}`);
  const base = st ? dir : await nearestDir(dir, label, dir);
  await checkDirUsable(base, label, dir);
  if (st) for (const f of opts.files ?? []) await checkReplaceable(join(dir, f), label, dir);
}

/**
 * Check, without creating anything, that `path` can be written as an output file (replaced by
 * rename): it is absent or a regular file (or a symlink to one), its nearest existing ancestor is
 * a writable directory not on a pseudo-file system. `append`: the file is appended to in place
 * (not replaced), and the messages say so.
 * @throws AttnfitError BAD_OPTION
 */
export async function checkOutputFile(path: string, label: string, append = false): Promise<void> {
  await checkReplaceable(path, label, path, append);
  const parent = dirname(path);
  const pst = await outStat(parent, label, path);
  if (pst && !pst.isDirectory())
    throw badOut(label, path, `${parent} is ${pst.isFile() ? 'a file' : describeKind(pst)}, not a directory`);
  await checkDirUsable(pst ? parent : await nearestDir(parent, label, path), label, path);
}

/**
 * Open a file to append to (e.g. `--progress FILE`), after the same checks as
 * {@link checkOutputFile} but in place: the file must be absent or a regular file. Opened with
 * O_NONBLOCK and stat'ed again, so a FIFO swapped in meanwhile cannot block. Call it after
 * every input is validated: it creates the file.
 * @throws AttnfitError BAD_OPTION
 */
export async function openAppendFile(path: string, label: string): Promise<FileHandle> {
  await checkOutputFile(path, label, true);
  let fh: FileHandle;
  try {
    fh = await open(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NONBLOCK ?? 0),
      0o666,
    );
  } catch (e) {
    const code = errno(e);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      throw badOut(label, path, 'cannot write (permission denied)', e);
    if (code === 'ENOENT') throw badOut(label, path, `cannot create it: directory ${dirname(path)} does not exist`, e);
    if (code === 'ENXIO' || code === 'EISDIR' || code === 'ELOOP' || code === 'ENOTDIR')
      throw badOut(label, path, `cannot open for appending (${code})`, e);
    throw e;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw badOut(label, path, `is ${describeKind(st)}, not a regular file`);
  }
  return fh;
}

/**
 * Before an atomic group write: every target's directory is usable (created later if missing)
 * and every existing target is replaceable — so a rename never fails half-way through the group.
 */
export async function checkTargets(paths: readonly string[]): Promise<void> {
  const dirs = new Set(paths.map((p) => dirname(p)));
  for (const d of dirs) await checkOutputDir(d, 'output');
  for (const p of paths) await checkReplaceable(p, 'output', p);
}
