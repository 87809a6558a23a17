import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, copyFile, writeFile, mkdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttnfitError } from '@attnfit/shared/core';
import {
  loadProblem,
  loadMatrix,
  writeNpy,
  writeSafetensors,
  readNpy,
  writeFilesAtomic,
  checkOutputDir,
  checkOutputFile,
} from '@attnfit/shared/io';

const FIX = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const PROB = join(FIX, 'problem');
let tmp = '';

async function errOf(p: Promise<unknown>): Promise<AttnfitError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, AttnfitError);
    return e as AttnfitError;
  }
  throw new Error('expected an AttnfitError');
}

/** A copy of the fixture problem in a fresh directory. */
async function copyProblem(name: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  for (const f of ['A1', 'A2', 'A3', 'B']) await copyFile(join(PROB, `${f}.npy`), join(dir, `${f}.npy`));
  return dir;
}

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'attnfit-problem-'));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('loads the npy fixture problem and the safetensors one identically', async () => {
  const p = await loadProblem(PROB);
  assert.is(p.n, 7);
  assert.is(p.d, 3);
  assert.is(p.A1.length, 21);
  assert.equal(p.source, { format: 'npy', path: PROB, dtypes: { A1: '<f8', A2: '<f8', A3: '<f8', B: '<f8' } });
  const s = await loadProblem(join(FIX, 'safetensors', 'problem.safetensors'), { shared: true });
  assert.is(s.source.format, 'safetensors');
  assert.ok(s.B.buffer instanceof SharedArrayBuffer);
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) assert.equal(Array.from(s[k]), Array.from(p[k]), k);
});

test('a directory holding problem.safetensors (no A1.npy) loads it', async () => {
  const dir = join(tmp, 'st-dir');
  await mkdir(dir);
  await copyFile(join(FIX, 'safetensors', 'problem.safetensors'), join(dir, 'problem.safetensors'));
  const p = await loadProblem(dir);
  assert.is(p.source.format, 'safetensors');
  assert.is(p.n, 7);
  // Both formats in one directory: refused as ambiguous, the file path still works.
  await copyFile(join(PROB, 'A1.npy'), join(dir, 'A1.npy'));
  const e = await errOf(loadProblem(dir));
  assert.is(e.code, 'BAD_FILE');
  assert.match(e.message, /holds both A1\.npy and problem\.safetensors/);
  assert.is((await loadProblem(join(dir, 'problem.safetensors'))).n, 7);
});

test('FILE_NOT_FOUND names the missing file', async () => {
  let e = await errOf(loadProblem(join(tmp, 'does-not-exist')));
  assert.is(e.code, 'FILE_NOT_FOUND');
  assert.match(e.message, /does-not-exist: problem not found/);
  const dir = await copyProblem('missing-a3');
  await unlink(join(dir, 'A3.npy'));
  e = await errOf(loadProblem(dir));
  assert.is(e.code, 'FILE_NOT_FOUND');
  assert.ok(e.message.startsWith(`${join(dir, 'A3.npy')}: file not found`), e.message);
});

test('BAD_FILE and BAD_DTYPE from a bad member file', async () => {
  const dir = await copyProblem('bad-members');
  await copyFile(join(FIX, 'npy', 'bad_truncated.npy'), join(dir, 'A2.npy'));
  let e = await errOf(loadProblem(dir));
  assert.is(e.code, 'BAD_FILE');
  assert.ok(e.message.startsWith(join(dir, 'A2.npy')), e.message);
  await copyFile(join(FIX, 'npy', 'bad_i8.npy'), join(dir, 'A2.npy'));
  e = await errOf(loadProblem(dir));
  assert.is(e.code, 'BAD_DTYPE');
  assert.ok(e.message.startsWith(`${join(dir, 'A2.npy')}: dtype '<i8'`), e.message);
  // A plain .npy file is not a problem.
  e = await errOf(loadProblem(join(PROB, 'A1.npy')));
  assert.is(e.code, 'BAD_FILE');
  // A .safetensors missing B.
  const st = join(tmp, 'noB.safetensors');
  await writeSafetensors(st, {
    A1: { shape: [2, 2], data: [1, 2, 3, 4] },
    A2: { shape: [2, 2], data: [1, 2, 3, 4] },
    A3: { shape: [2, 2], data: [1, 2, 3, 4] },
  });
  e = await errOf(loadProblem(st));
  assert.is(e.code, 'BAD_FILE');
  assert.match(e.message, /noB\.safetensors: no tensor 'B' \(it has A1, A2, A3; a problem needs A1, A2, A3, B\)/);
});

test('SHAPE_MISMATCH: names both files and shapes; 1-d refused', async () => {
  const dir = await copyProblem('shape');
  await writeNpy(join(dir, 'A2.npy'), new Float64Array(15), [5, 3]);
  let e = await errOf(loadProblem(dir));
  assert.is(e.code, 'SHAPE_MISMATCH');
  assert.is(
    e.message,
    `${join(dir, 'A2.npy')}: shape [5, 3] but ${join(dir, 'A1.npy')} is [7, 3]: A1, A2, A3, B must all be n×d`,
  );
  await writeNpy(join(dir, 'A2.npy'), new Float64Array(21), [21]);
  e = await errOf(loadProblem(dir));
  assert.is(e.code, 'SHAPE_MISMATCH');
  assert.match(e.message, /A2\.npy: shape \[21\] is 1-d: A1, A2, A3, B must all be n×d matrices/);
});

test('EMPTY when n or d is 0', async () => {
  for (const shape of [
    [0, 3],
    [4, 0],
  ]) {
    const dir = join(tmp, `empty-${shape.join('x')}`);
    for (const t of ['A1', 'A2', 'A3', 'B']) await writeNpy(join(dir, `${t}.npy`), [], shape);
    const e = await errOf(loadProblem(dir));
    assert.is(e.code, 'EMPTY');
    assert.match(e.message, new RegExp(`A1\\.npy: shape \\[${shape.join(', ')}\\] is empty`));
  }
});

test('NON_FINITE names file, kind and index', async () => {
  const dir = await copyProblem('nonfinite');
  const B = (await readNpy(join(dir, 'B.npy'))).data.slice();
  B[3 * 3 + 1] = NaN;
  await writeNpy(join(dir, 'B.npy'), B, [7, 3]);
  let e = await errOf(loadProblem(dir));
  assert.is(e.code, 'NON_FINITE');
  assert.is(e.message, `${join(dir, 'B.npy')}: NaN at [3, 1]`);
  B[3 * 3 + 1] = 0;
  B[20] = -Infinity;
  await writeNpy(join(dir, 'B.npy'), B, [7, 3]);
  e = await errOf(loadProblem(dir));
  assert.is(e.message, `${join(dir, 'B.npy')}: -Inf at [6, 2]`);
});

test('loadMatrix: shape check names the option; NaN; not found; Fortran order ok', async () => {
  const X = await loadMatrix(join(PROB, 'X.npy'), { rows: 3, cols: 3, field: '--x' });
  assert.is(X.rows, 3);
  assert.is(X.data.length, 9);
  let e = await errOf(loadMatrix(join(FIX, 'npy', 'f8_c.npy'), { rows: 4, cols: 4, field: '--x' }));
  assert.is(e.code, 'SHAPE_MISMATCH');
  assert.is(e.message, `--x ${join(FIX, 'npy', 'f8_c.npy')}: shape [3, 4], expected [4, 4]`);
  e = await errOf(loadMatrix(join(FIX, 'npy', 'f8_1d.npy'), { rows: 5, cols: 1, field: '--y' }));
  assert.is(e.code, 'SHAPE_MISMATCH');
  e = await errOf(loadMatrix(join(tmp, 'X.npy'), { field: '--x' }));
  assert.is(e.code, 'FILE_NOT_FOUND');
  assert.is(e.message, `--x ${join(tmp, 'X.npy')}: file not found`);
  await writeNpy(join(tmp, 'inf.npy'), [1, Infinity, 0, 0], [2, 2]);
  e = await errOf(loadMatrix(join(tmp, 'inf.npy'), { rows: 2, cols: 2, field: '--y' }));
  assert.is(e.code, 'NON_FINITE');
  assert.is(e.message, `--y ${join(tmp, 'inf.npy')}: Inf at [0, 1]`);
  const F = await loadMatrix(join(FIX, 'npy', 'f8_fortran.npy'), { rows: 3, cols: 4 });
  const C = await loadMatrix(join(FIX, 'npy', 'f8_c.npy'), { rows: 3, cols: 4 });
  assert.equal(Array.from(F.data), Array.from(C.data));
});

test('output checks and group writes have no side effects on failure', async () => {
  const file = join(tmp, 'a-file');
  await writeFile(file, 'x');
  let e = await errOf(checkOutputDir(file, '--out'));
  assert.is(e.code, 'BAD_OPTION');
  assert.is(e.message, `--out ${file}: exists and is not a directory`);
  e = await errOf(checkOutputDir(join(file, 'sub'), '--out'));
  assert.is(e.code, 'BAD_OPTION');
  e = await errOf(checkOutputFile(tmp, '--hessian-out'));
  assert.match(e.message, /is a directory, expected a file path/);
  await checkOutputDir(join(tmp, 'new', 'dir'), '--out'); // fine, and creates nothing
  await checkOutputFile(join(tmp, 'new', 'H.npy'), '--hessian-out');
  e = await errOf(loadProblem(join(tmp, 'new')));
  assert.is(e.code, 'FILE_NOT_FOUND');
  // Group write where the 2nd target is blocked: refused before anything is created or written.
  e = await errOf(
    writeFilesAtomic([
      { path: join(tmp, 'grp', 'one.txt'), data: '1' },
      { path: join(file, 'two.txt'), data: '2' },
    ]),
  );
  assert.is(e.code, 'BAD_OPTION');
  const { readdir, mkdir: mkdirP, readFile: readF } = await import('node:fs/promises');
  assert.not.ok((await readdir(tmp)).includes('grp'));
  // A directory in the way of the last file: the first files are not replaced (no partial output).
  await mkdirP(join(tmp, 'grp2', 'two.txt'), { recursive: true });
  await writeFile(join(tmp, 'grp2', 'one.txt'), 'old');
  e = await errOf(
    writeFilesAtomic([
      { path: join(tmp, 'grp2', 'one.txt'), data: 'new' },
      { path: join(tmp, 'grp2', 'two.txt'), data: '2' },
    ]),
  );
  assert.is(e.code, 'BAD_OPTION');
  assert.match(e.message, /two\.txt: is a directory/);
  assert.is(await readF(join(tmp, 'grp2', 'one.txt'), 'utf8'), 'old');
  assert.equal((await readdir(join(tmp, 'grp2'))).sort(), ['one.txt', 'two.txt']);
});

test.run();
