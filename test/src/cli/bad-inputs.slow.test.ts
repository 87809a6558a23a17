/**
 * The bad-input catalogue: one table of hostile inputs across every command (files, options,
 * paths), each run as a real `attnfit` process. Every row must
 *   - exit 2 with exactly one line `attnfit: error [CODE]: …` on stderr (no stack) and nothing on stdout,
 *   - leave the whole scratch tree exactly as it was (nothing created, replaced or half-written),
 *   - finish in bounded time (a generous per-row deadline: a hang fails the row, no timing is asserted),
 *   - stay within a memory bound (the child's peak RSS, from process.resourceUsage() at exit).
 * Commands that need a server use flags that fail validation before connecting.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, encodeSafetensors } from '@attnfit/shared/io';
import { BIN } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';
import { randMatrix, rng } from '../helpers/rng.js';

/** Deadline per row: a row still running then is killed and fails (it would have hung). */
const ROW_DEADLINE_MS = 90_000;
/** Peak RSS bound for every row, and the tighter one for the 100 MB ops line. */
const RSS_BOUND_MB = 768;
const RSS_BOUND_HUGE_LINE_MB = 256;

const root = mkdtempSync(join(tmpdir(), 'attnfit-bad-'));
chmodSync(root, 0o755); // the non-root row runs as another user
const at = (...p: string[]) => join(root, ...p);
const rssDir = mkdtempSync(join(tmpdir(), 'attnfit-rss-'));
chmodSync(rssDir, 0o755);
const rssPreload = join(rssDir, 'rss.cjs');
writeFileSync(
  rssPreload,
  "process.on('exit', () => { const f = process.env.ATTNFIT_TEST_RSS_FILE; if (f) require('fs').writeFileSync(f, String(process.resourceUsage().maxRSS)); });\n",
);

// ---------------------------------------------------------------- fixtures

const n = 8,
  d = 2,
  r = rng(7);
function npy(path: string, rows: number, cols: number, data?: Float64Array): void {
  writeFileSync(path, encodeNpy(data ?? randMatrix(r, rows, cols), [rows, cols]));
}
/** A .npy file with a hand-written header (and `dataBytes` zero bytes of data). */
function rawNpy(path: string, header: string, dataBytes = 0): void {
  const h = Buffer.from(`${header}\n`, 'latin1');
  const out = Buffer.alloc(10 + h.length + dataBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(out);
  out.writeUInt16LE(h.length, 8);
  h.copy(out, 10);
  writeFileSync(path, out);
}
function problemDir(name: string, override: Record<string, () => void> = {}): string {
  const dir = at(name);
  mkdirSync(dir, { recursive: true });
  for (const t of ['A1', 'A2', 'A3', 'B']) (override[t] ?? (() => npy(join(dir, `${t}.npy`), n, d)))();
  return dir;
}

const P = problemDir('p');
npy(at('X.npy'), d, d);
npy(at('Y.npy'), d, d);
writeFileSync(at('file.txt'), 'not a directory\n');
execFileSync('mkfifo', [at('fifo')]);
execFileSync('mkfifo', [at('fifo.safetensors')]);
symlinkSync(at('loop2'), at('loop1'));
symlinkSync(at('loop1'), at('loop2'));
npy(at('X3.npy'), 3, 3);
npy(at('Xnan.npy'), d, d, new Float64Array([1, NaN, 0, 2]));
npy(at('X1d.npy'), 1, 4); // shape [1, 4]: not d×d
writeFileSync(at('trunc.npy'), encodeNpy(new Float64Array(4), [2, 2]).subarray(0, 100));
rawNpy(at('huge.npy'), "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }");
rawNpy(at('neg.npy'), "{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 2), }", 32);
rawNpy(at('int.npy'), "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", 32);
rawNpy(at('pickle.npy'), "{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", 32);
rawNpy(at('deep.npy'), `{'descr': '<f8', 'fortran_order': False, 'shape': ${'('.repeat(3000)}2${')'.repeat(3000)}, }`);
writeFileSync(at('random.npy'), Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) & 255)));
problemDir(
  'p_empty',
  Object.fromEntries(['A1', 'A2', 'A3', 'B'].map((t) => [t, () => npy(at('p_empty', `${t}.npy`), 0, d)])),
);
problemDir('p_mismatch', { B: () => npy(at('p_mismatch', 'B.npy'), n + 1, d) });
problemDir('p_missing', { A3: () => undefined });
problemDir('p_huge', {
  A1: () => rawNpy(at('p_huge', 'A1.npy'), "{'descr': '<f8', 'fortran_order': False, 'shape': (268435456, 64), }"),
});
{
  const st = Buffer.alloc(8 + 16);
  st.writeBigUInt64LE(2n ** 63n, 0);
  writeFileSync(at('lie.safetensors'), st);
  // A1 stored as F16 (2 bytes per element), the others F64: a valid file with an unsupported dtype.
  const f64 = encodeSafetensors({
    A2: { shape: [n, d], data: randMatrix(r, n, d) },
    A3: { shape: [n, d], data: randMatrix(r, n, d) },
    B: { shape: [n, d], data: randMatrix(r, n, d) },
  });
  const hlen = Number(Buffer.from(f64).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(f64.subarray(8, 8 + hlen)).toString()) as Record<
    string,
    { data_offsets: number[] }
  >;
  for (const t of ['A2', 'A3', 'B']) header[t]!.data_offsets = header[t]!.data_offsets.map((o) => o + 2 * n * d);
  const hb = Buffer.from(
    JSON.stringify({ A1: { dtype: 'F16', shape: [n, d], data_offsets: [0, 2 * n * d] }, ...header }),
  );
  const lenb = Buffer.alloc(8);
  lenb.writeBigUInt64LE(BigInt(hb.length));
  writeFileSync(at('f16.safetensors'), Buffer.concat([lenb, hb, Buffer.alloc(2 * n * d), f64.subarray(8 + hlen)]));
}
// Output directories with something in the way: out_busy/B.npy/ is a directory; A1.npy must survive.
mkdirSync(at('out_busy', 'B.npy'), { recursive: true });
writeFileSync(at('out_busy', 'A1.npy'), 'old A1');
mkdirSync(at('fit_busy', 'loss.svg'), { recursive: true });
writeFileSync(at('fit_busy', 'X.npy'), 'old X');
mkdirSync(at('grad_busy', 'gradY.npy'), { recursive: true });
mkdirSync(at('ro'));
writeFileSync(at('ro', 'keep.txt'), 'keep');
// Ops files: a million lines with one bad line at the end, one 100 MB line, small bad ones.
{
  const fd = openSync(at('ops_1e6.jsonl'), 'w');
  const good = Buffer.from('{"op":"query","i":0,"j":0}\n'.repeat(10_000));
  for (let k = 0; k < 99; k++) writeSync(fd, good);
  writeSync(fd, Buffer.from('{"op":"query","i":0,"j":0}\n'.repeat(9_999)));
  writeSync(fd, Buffer.from('{"op":"query","i":8,"j":0}\n'));
  closeSync(fd);
  const fd2 = openSync(at('ops_100mb.jsonl'), 'w');
  writeSync(fd2, Buffer.from('{"op":"updateKRow","i":0,"delta":['));
  const chunk = Buffer.from('1,'.repeat(1 << 19)); // 1 MiB
  for (let k = 0; k < 100; k++) writeSync(fd2, chunk);
  writeSync(fd2, Buffer.from('1]}\n'));
  closeSync(fd2);
}
writeFileSync(at('ops_badjson.jsonl'), '{"op":"query","i":0,"j":0}\n{"op":"query",\n');
writeFileSync(at('ops_range.jsonl'), '{"op":"updateK","i":0,"j":5,"delta":1}\n');
writeFileSync(at('ops_nan.jsonl'), '{"op":"updateV","i":0,"j":0,"delta":"NaN"}\n');
writeFileSync(at('ops_op.jsonl'), '{"op":"deleteEverything","i":0}\n');

const X = at('X.npy'),
  Y = at('Y.npy');
const DYN = ['dynamic', '--q', at('p', 'A1.npy'), '--k', at('p', 'A2.npy'), '--v', at('p', 'A3.npy')];
const NATS = ['--nats', 'nats://127.0.0.1:1']; // never reached: every row fails before connecting

// ---------------------------------------------------------------- the catalogue

interface Row {
  name: string;
  args: string[];
  code: string;
  msg?: RegExp;
  rssMB?: number;
  after?: () => void;
}

const rows: Row[] = [
  // generate
  {
    name: 'generate: --n 0',
    args: ['generate', '--n', '0', '--d', '2', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /--n/,
  },
  {
    name: 'generate: --n not a number',
    args: ['generate', '--n', 'lots', '--d', '2', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /--n: must be an integer/,
  },
  {
    name: 'generate: --d 1e3 (not an integer literal)',
    args: ['generate', '--n', '4', '--d', '1e3', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /--d/,
  },
  {
    name: 'generate: n·d too large',
    args: ['generate', '--n', String(2 ** 27 + 1), '--d', '1', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /exceeds/,
  },
  {
    name: 'generate: n·d = 2^53 overflow',
    args: ['generate', '--n', String(2 ** 40), '--d', String(2 ** 20), '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /exceeds|--d/,
  },
  {
    name: 'generate: --seed -1',
    args: ['generate', '--n', '4', '--d', '2', '--seed', '-1', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /--seed/,
  },
  {
    name: 'generate: --scale NaN',
    args: ['generate', '--n', '4', '--d', '2', '--scale', 'NaN', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /--scale/,
  },
  {
    name: 'generate: --format xml',
    args: ['generate', '--n', '4', '--d', '2', '--format', 'xml', '--out', at('g')],
    code: 'BAD_OPTION',
    msg: /--format/,
  },
  {
    name: 'generate: --out is a file',
    args: ['generate', '--n', '4', '--d', '2', '--out', at('file.txt')],
    code: 'BAD_OPTION',
    msg: /exists and is not a directory/,
  },
  {
    name: 'generate: --out below a file',
    args: ['generate', '--n', '4', '--d', '2', '--out', at('file.txt', 'sub')],
    code: 'BAD_OPTION',
    msg: /is a file, not a directory/,
  },
  {
    name: 'generate: --out under /proc',
    args: ['generate', '--n', '4', '--d', '2', '--out', '/proc/attnfit-out'],
    code: 'BAD_OPTION',
    msg: /procfs/,
  },
  {
    name: 'generate: --out /proc/self',
    args: ['generate', '--n', '4', '--d', '2', '--out', '/proc/self'],
    code: 'BAD_OPTION',
    msg: /procfs/,
  },
  {
    name: 'generate: --out under /sys',
    args: ['generate', '--n', '4', '--d', '2', '--out', '/sys/kernel/attnfit'],
    code: 'BAD_OPTION',
    msg: /sysfs|pseudo/,
  },
  {
    name: 'generate: --out /dev',
    args: ['generate', '--n', '4', '--d', '2', '--out', '/dev'],
    code: 'BAD_OPTION',
    msg: /\/dev/,
  },
  {
    name: 'generate: --out a symlink loop',
    args: ['generate', '--n', '4', '--d', '2', '--out', at('loop1')],
    code: 'BAD_OPTION',
    msg: /symbolic links/,
  },
  {
    name: 'generate: sub-directory B.npy/ in the way (A1.npy not replaced)',
    args: ['generate', '--n', '4', '--d', '2', '--out', at('out_busy')],
    code: 'BAD_OPTION',
    msg: /B\.npy is a directory in the way/,
    after: () => assert.is(readFileSync(at('out_busy', 'A1.npy'), 'utf8'), 'old A1'),
  },
  // loss
  { name: 'loss: problem missing', args: ['loss', at('nope'), '--x', X, '--y', Y], code: 'FILE_NOT_FOUND' },
  {
    name: 'loss: problem dir lacks A3.npy',
    args: ['loss', at('p_missing'), '--x', X, '--y', Y],
    code: 'FILE_NOT_FOUND',
    msg: /A3\.npy/,
  },
  { name: 'loss: problem is a FIFO', args: ['loss', at('fifo'), '--x', X, '--y', Y], code: 'BAD_FILE' },
  {
    name: 'loss: problem is a FIFO named .safetensors',
    args: ['loss', at('fifo.safetensors'), '--x', X, '--y', Y],
    code: 'BAD_FILE',
    msg: /FIFO/,
  },
  {
    name: 'loss: problem is a symlink loop',
    args: ['loss', at('loop1'), '--x', X, '--y', Y],
    code: 'BAD_FILE',
    msg: /symbolic links/,
  },
  { name: 'loss: problem is /dev/zero', args: ['loss', '/dev/zero', '--x', X, '--y', Y], code: 'BAD_FILE' },
  { name: 'loss: problem n = 0', args: ['loss', at('p_empty'), '--x', X, '--y', Y], code: 'EMPTY' },
  {
    name: 'loss: problem tensors of different n',
    args: ['loss', at('p_mismatch'), '--x', X, '--y', Y],
    code: 'SHAPE_MISMATCH',
  },
  {
    name: 'loss: A1 claims 2^28 × 64 (16 GiB) with no data',
    args: ['loss', at('p_huge'), '--x', X, '--y', Y],
    code: 'BAD_FILE',
    msg: /truncated/,
  },
  {
    name: 'loss: safetensors header length 2^63',
    args: ['loss', at('lie.safetensors'), '--x', X, '--y', Y],
    code: 'BAD_FILE',
  },
  {
    name: 'loss: safetensors F16 tensor',
    args: ['loss', at('f16.safetensors'), '--x', X, '--y', Y],
    code: 'BAD_DTYPE',
    msg: /F16/,
  },
  { name: 'loss: --x is a FIFO', args: ['loss', P, '--x', at('fifo'), '--y', Y], code: 'BAD_FILE', msg: /--x .*FIFO/ },
  {
    name: 'loss: --x is /dev/zero',
    args: ['loss', P, '--x', '/dev/zero', '--y', Y],
    code: 'BAD_FILE',
    msg: /character device/,
  },
  {
    name: 'loss: --x is /dev/urandom',
    args: ['loss', P, '--x', '/dev/urandom', '--y', Y],
    code: 'BAD_FILE',
    msg: /character device/,
  },
  {
    name: 'loss: --x is a symlink loop',
    args: ['loss', P, '--x', at('loop1'), '--y', Y],
    code: 'BAD_FILE',
    msg: /symbolic links/,
  },
  { name: 'loss: --x is a directory', args: ['loss', P, '--x', P, '--y', Y], code: 'BAD_FILE', msg: /directory/ },
  {
    name: 'loss: --x under /proc',
    args: ['loss', P, '--x', '/proc/self/status', '--y', Y],
    code: 'BAD_FILE',
    msg: /procfs/,
  },
  {
    name: 'loss: --x truncated',
    args: ['loss', P, '--x', at('trunc.npy'), '--y', Y],
    code: 'BAD_FILE',
    msg: /truncated/,
  },
  { name: 'loss: --x header claims 2^40 × 2^40', args: ['loss', P, '--x', at('huge.npy'), '--y', Y], code: 'BAD_FILE' },
  { name: 'loss: --x negative shape', args: ['loss', P, '--x', at('neg.npy'), '--y', Y], code: 'BAD_FILE' },
  { name: 'loss: --x 3000-deep nested shape', args: ['loss', P, '--x', at('deep.npy'), '--y', Y], code: 'BAD_FILE' },
  { name: 'loss: --x int64', args: ['loss', P, '--x', at('int.npy'), '--y', Y], code: 'BAD_DTYPE', msg: /'<i8'/ },
  { name: 'loss: --x pickled objects', args: ['loss', P, '--x', at('pickle.npy'), '--y', Y], code: 'BAD_DTYPE' },
  { name: 'loss: --x random bytes', args: ['loss', P, '--x', at('random.npy'), '--y', Y], code: 'BAD_FILE' },
  {
    name: 'loss: --x 3×3 for d = 2',
    args: ['loss', P, '--x', at('X3.npy'), '--y', Y],
    code: 'SHAPE_MISMATCH',
    msg: /expected \[2, 2\]/,
  },
  { name: 'loss: --y 1×4', args: ['loss', P, '--x', X, '--y', at('X1d.npy')], code: 'SHAPE_MISMATCH' },
  {
    name: 'loss: --x holds NaN',
    args: ['loss', P, '--x', at('Xnan.npy'), '--y', Y],
    code: 'NON_FINITE',
    msg: /NaN at \[0, 1\]/,
  },
  {
    name: 'loss: --hessian-out is a directory',
    args: ['loss', P, '--x', X, '--y', Y, '--hessian-out', P],
    code: 'BAD_OPTION',
  },
  {
    name: 'loss: --hessian-out /dev/null (a device is never replaced)',
    args: ['loss', P, '--x', X, '--y', Y, '--hessian-out', '/dev/null'],
    code: 'BAD_OPTION',
    msg: /character device/,
    after: () => assert.ok(lstatSync('/dev/null').isCharacterDevice(), '/dev/null is still a device'),
  },
  {
    name: 'loss: --hessian-out under /proc',
    args: ['loss', P, '--x', X, '--y', Y, '--hessian-out', '/proc/H.npy'],
    code: 'BAD_OPTION',
    msg: /procfs/,
  },
  {
    name: 'loss: --hessian-out a FIFO',
    args: ['loss', P, '--x', X, '--y', Y, '--hessian-out', at('fifo')],
    code: 'BAD_OPTION',
    msg: /FIFO/,
  },
  {
    name: 'loss: --grad-out is a file',
    args: ['loss', P, '--x', X, '--y', Y, '--grad-out', at('file.txt')],
    code: 'BAD_OPTION',
  },
  {
    name: 'loss: --grad-out with gradY.npy/ in the way',
    args: ['loss', P, '--x', X, '--y', Y, '--grad-out', at('grad_busy')],
    code: 'BAD_OPTION',
    msg: /gradY\.npy is a directory/,
  },
  {
    name: 'loss: --threads 0',
    args: ['loss', P, '--x', X, '--y', Y, '--threads', '0'],
    code: 'BAD_OPTION',
    msg: /--threads/,
  },
  { name: 'loss: --x missing', args: ['loss', P, '--y', Y], code: 'USAGE' },
  // solve
  { name: 'solve: --out is a file', args: ['solve', P, '--out', at('file.txt')], code: 'BAD_OPTION' },
  {
    name: 'solve: loss.svg/ in the way (X.npy not replaced)',
    args: ['solve', P, '--out', at('fit_busy'), '--max-iter', '1'],
    code: 'BAD_OPTION',
    msg: /loss\.svg is a directory/,
    after: () => assert.is(readFileSync(at('fit_busy', 'X.npy'), 'utf8'), 'old X'),
  },
  { name: 'solve: --out under /proc', args: ['solve', P, '--out', '/proc/fit'], code: 'BAD_OPTION', msg: /procfs/ },
  {
    name: 'solve: --progress in a missing directory',
    args: ['solve', P, '--out', at('s1'), '--max-iter', '1', '--progress', at('nodir', 'p.jsonl')],
    code: 'BAD_OPTION',
    msg: /--progress/,
  },
  {
    name: 'solve: --progress is a directory',
    args: ['solve', P, '--out', at('s1'), '--max-iter', '1', '--progress', P],
    code: 'BAD_OPTION',
    msg: /--progress/,
  },
  {
    name: 'solve: --progress is a FIFO',
    args: ['solve', P, '--out', at('s1'), '--max-iter', '1', '--progress', at('fifo')],
    code: 'BAD_OPTION',
    msg: /FIFO/,
  },
  {
    name: 'solve: --progress is a symlink loop',
    args: ['solve', P, '--out', at('s1'), '--max-iter', '1', '--progress', at('loop1')],
    code: 'BAD_OPTION',
    msg: /symbolic links/,
  },
  {
    name: 'solve: --progress under /proc',
    args: ['solve', P, '--out', at('s1'), '--max-iter', '1', '--progress', '/proc/self/status'],
    code: 'BAD_OPTION',
    msg: /procfs/,
  },
  { name: 'solve: --method magic', args: ['solve', P, '--method', 'magic'], code: 'BAD_OPTION', msg: /--method/ },
  { name: 'solve: --tol 0', args: ['solve', P, '--tol', '0'], code: 'BAD_OPTION', msg: /--tol/ },
  { name: 'solve: --max-iter -1', args: ['solve', P, '--max-iter', '-1'], code: 'BAD_OPTION' },
  {
    name: 'solve: --starts 2^53-1',
    args: ['solve', P, '--starts', String(2 ** 53 - 1)],
    code: 'BAD_OPTION',
    msg: /--starts/,
  },
  {
    name: 'solve: --x0 wrong shape',
    args: ['solve', P, '--x0', at('X3.npy'), '--out', at('s1')],
    code: 'SHAPE_MISMATCH',
    msg: /--x0/,
  },
  { name: 'solve: --x0 is a FIFO', args: ['solve', P, '--x0', at('fifo'), '--out', at('s1')], code: 'BAD_FILE' },
  {
    name: 'solve: --nats not a URL',
    args: ['solve', P, '--nats', 'http://[::1', '--out', at('s1')],
    code: 'BAD_OPTION',
    msg: /--nats/,
  },
  // dynamic
  {
    name: 'dynamic: 10^6-line ops file, bad last line (nothing printed)',
    args: [...DYN, '--ops', at('ops_1e6.jsonl')],
    code: 'BAD_OP',
    msg: /line 1000000: "i"/,
  },
  {
    name: 'dynamic: one 100 MB ops line (bounded memory, not echoed)',
    args: [...DYN, '--ops', at('ops_100mb.jsonl')],
    code: 'BAD_OP',
    msg: /line 1: longer than \d+ bytes/,
    rssMB: RSS_BOUND_HUGE_LINE_MB,
  },
  {
    name: 'dynamic: ops line not JSON',
    args: [...DYN, '--ops', at('ops_badjson.jsonl')],
    code: 'BAD_OP',
    msg: /line 2: invalid JSON/,
  },
  {
    name: 'dynamic: ops index out of range',
    args: [...DYN, '--ops', at('ops_range.jsonl')],
    code: 'BAD_OP',
    msg: /"j": must be an integer in \[0, 1\]/,
  },
  {
    name: 'dynamic: ops delta not a number',
    args: [...DYN, '--ops', at('ops_nan.jsonl')],
    code: 'BAD_OP',
    msg: /"delta"/,
  },
  { name: 'dynamic: unknown op', args: [...DYN, '--ops', at('ops_op.jsonl')], code: 'BAD_OP', msg: /unknown op/ },
  { name: 'dynamic: --ops is a FIFO', args: [...DYN, '--ops', at('fifo')], code: 'BAD_FILE', msg: /FIFO/ },
  {
    name: 'dynamic: --ops is /dev/urandom',
    args: [...DYN, '--ops', '/dev/urandom'],
    code: 'BAD_FILE',
    msg: /character device/,
  },
  {
    name: 'dynamic: --ops is a symlink loop',
    args: [...DYN, '--ops', at('loop1')],
    code: 'BAD_FILE',
    msg: /symbolic links/,
  },
  { name: 'dynamic: --ops missing', args: [...DYN, '--ops', at('nope.jsonl')], code: 'FILE_NOT_FOUND' },
  {
    name: 'dynamic: --q is 1×4 and --k 8×2',
    args: [
      'dynamic',
      '--q',
      at('X1d.npy'),
      '--k',
      at('p', 'A2.npy'),
      '--v',
      at('p', 'A3.npy'),
      '--ops',
      at('ops_op.jsonl'),
    ],
    code: 'SHAPE_MISMATCH',
  },
  {
    name: 'dynamic: --tau 2',
    args: [...DYN, '--ops', at('ops_op.jsonl'), '--tau', '2'],
    code: 'BAD_OPTION',
    msg: /--tau/,
  },
  { name: 'dynamic: no --ops', args: [...DYN], code: 'USAGE' },
  { name: 'dynamic serve: no --nats', args: ['dynamic', 'serve'], code: 'USAGE' },
  // cluster commands (all fail before connecting)
  { name: 'submit: --nats not a URL', args: ['submit', P, '--nats', 'not a url'], code: 'BAD_OPTION', msg: /--nats/ },
  { name: 'submit: problem is a FIFO', args: ['submit', at('fifo'), ...NATS], code: 'BAD_FILE' },
  {
    name: 'submit: --starts 2^53-1',
    args: ['submit', P, ...NATS, '--starts', String(2 ** 53 - 1)],
    code: 'BAD_OPTION',
    msg: /--starts/,
  },
  { name: 'submit: --tol 0', args: ['submit', P, ...NATS, '--tol', '0'], code: 'BAD_OPTION', msg: /--tol/ },
  { name: 'submit: --out without --wait', args: ['submit', P, ...NATS, '--out', at('r1')], code: 'USAGE' },
  {
    name: 'submit --wait: --out with X.npy/ in the way',
    args: ['submit', P, ...NATS, '--wait', '--out', at('out_busy')],
    code: 'BAD_OPTION',
  },
  {
    name: 'result: --out under /proc',
    args: ['result', 'job1', ...NATS, '--out', '/proc/r'],
    code: 'BAD_OPTION',
    msg: /procfs/,
  },
  { name: 'result: --out is a file', args: ['result', 'job1', ...NATS, '--out', at('file.txt')], code: 'BAD_OPTION' },
  { name: 'status: no --nats', args: ['status', 'job1'], code: 'USAGE', msg: /--nats/ },
  {
    name: 'status: --creds is a FIFO',
    args: ['status', 'job1', ...NATS, '--creds', at('fifo')],
    code: 'BAD_FILE',
    msg: /--creds/,
  },
  {
    name: 'jobs: --creds is a symlink loop',
    args: ['jobs', ...NATS, '--creds', at('loop1')],
    code: 'BAD_FILE',
    msg: /--creds/,
  },
  { name: 'cancel: --timeout-ms -5', args: ['cancel', 'job1', ...NATS, '--timeout-ms', '-5'], code: 'BAD_OPTION' },
  { name: 'worker: --threads 0', args: ['worker', ...NATS, '--threads', '0'], code: 'BAD_OPTION', msg: /--threads/ },
  {
    name: 'coordinator: --max-jobs 0',
    args: ['coordinator', ...NATS, '--max-jobs', '0'],
    code: 'BAD_OPTION',
    msg: /--max-jobs/,
  },
];
// A row where B.npy/ blocks generate is in the table; submit --wait --out out_busy needs X.npy/ in the way:
mkdirSync(at('out_busy', 'X.npy'), { recursive: true });

// ---------------------------------------------------------------- running a row

interface Snapshot {
  [path: string]: string;
}
/** Every entry under `dir` (lstat: links are not followed, FIFOs never opened) with its content digest. */
function snapshot(dir: string, out: Snapshot = {}): Snapshot {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    let v = `${st.mode}`;
    if (st.isDirectory()) snapshot(p, out);
    else if (st.isFile())
      v +=
        st.size > 1 << 20
          ? ` ${st.size} ${st.mtimeMs}`
          : ` ${createHash('sha1').update(readFileSync(p)).digest('hex')}`;
    out[p] = v;
  }
  return out;
}

interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  rssMB: number | undefined;
  timedOut: boolean;
}
function runCli(args: string[], asUser?: string[]): Promise<Ran> {
  const rssFile = join(tmpdir(), `attnfit-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const cmd = asUser ? asUser[0]! : process.execPath;
  const node = ['--require', rssPreload, BIN, ...args];
  const argv = asUser ? [...asUser.slice(1), process.execPath, ...node] : node;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ATTNFIT_TEST_RSS_FILE: rssFile, ATTNFIT_DEBUG: '' },
    });
    let stdout = '',
      stderr = '',
      timedOut = false;
    child.stdout.on('data', (b) => {
      if (stdout.length < 1e5) stdout += b;
    });
    child.stderr.on('data', (b) => {
      if (stderr.length < 1e5) stderr += b;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ROW_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let rssMB: number | undefined;
      if (existsSync(rssFile)) {
        rssMB = Number(readFileSync(rssFile, 'utf8')) / 1024;
        rmSync(rssFile, { force: true });
      }
      resolve({ code, signal, stdout, stderr, rssMB, timedOut });
    });
  });
}

function checkRan(row: Row, r: Ran, before: Snapshot): void {
  const where = `${row.name}: attnfit ${row.args.join(' ').slice(0, 200)}`;
  assert.not.ok(r.timedOut, `${where}: still running after ${ROW_DEADLINE_MS} ms (killed)`);
  assert.is(r.code, 2, `${where}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr.slice(0, 2000)}`);
  assert.is(r.stdout, '', `${where}: stdout ${r.stdout.slice(0, 500)}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, `${where}: one stderr line, got\n${r.stderr.slice(0, 2000)}`);
  assert.ok(lines[0]!.startsWith(`attnfit: error [${row.code}]: `), `${where}: ${lines[0]}`);
  assert.ok(lines[0]!.length < 600, `${where}: message of ${lines[0]!.length} characters`);
  if (row.msg) assert.match(lines[0]!, row.msg, where);
  const after = snapshot(root);
  assert.equal(after, before, `${where}: the scratch tree changed`);
  if (r.rssMB !== undefined)
    assert.ok(
      r.rssMB <= (row.rssMB ?? RSS_BOUND_MB),
      `${where}: peak RSS ${r.rssMB.toFixed(0)} MB > ${row.rssMB ?? RSS_BOUND_MB} MB`,
    );
  else assert.unreachable(`${where}: no peak RSS recorded`);
  row.after?.();
}

test(`catalogue: ${rows.length} hostile inputs → exit 2, the coded error, nothing written, bounded time and memory`, async () => {
  assert.ok(rows.length >= 40);
  const queue = rows.map((row, i) => ({ row, i }));
  let peakHugeLine: number | undefined;
  // Rows only read the scratch tree, so two run at once; each checks the whole tree after itself.
  const before = snapshot(root);
  const failures: string[] = [];
  await Promise.all(
    [0, 1].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const r = await runCli(next.row.args);
        try {
          checkRan(next.row, r, before);
        } catch (e) {
          failures.push((e as Error).message);
        }
        if (next.row.rssMB) peakHugeLine = r.rssMB;
      }
    }),
  );
  assert.equal(failures, [], failures.join('\n\n'));
  console.log(`  peak RSS of the 100 MB ops line row: ${peakHugeLine?.toFixed(0)} MB`);
});

// ---------------------------------------------------------------- a directory without write permission (non-root)

const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : undefined;
const setprivOk =
  asNobody === undefined ||
  (() => {
    try {
      execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
if (setprivOk) {
  test('catalogue: an output directory without write permission (non-root user)', async () => {
    chmodSync(at('ro'), 0o555);
    try {
      const before = snapshot(root);
      for (const row of [
        {
          name: 'generate: --out in a read-only directory',
          args: ['generate', '--n', '4', '--d', '2', '--out', at('ro', 'new')],
          code: 'BAD_OPTION',
          msg: /permission denied/,
        },
        {
          name: 'generate: --out a read-only directory',
          args: ['generate', '--n', '4', '--d', '2', '--out', at('ro')],
          code: 'BAD_OPTION',
          msg: /permission denied/,
        },
        {
          name: 'solve: --out a read-only directory',
          args: ['solve', P, '--out', at('ro'), '--max-iter', '1'],
          code: 'BAD_OPTION',
          msg: /permission denied/,
        },
      ] as Row[]) {
        const r = await runCli(row.args, asNobody);
        checkRan(row, r, before);
      }
    } finally {
      chmodSync(at('ro'), 0o755);
    }
  });
} else {
  testIf(
    test,
    'catalogue: an output directory without write permission (non-root user)',
    'running as root and setpriv is not available to drop to a non-root user',
    () => undefined,
  );
}

test.after(() => {
  for (const dir of [root, rssDir]) rmSync(dir, { recursive: true, force: true });
});

test.run();
