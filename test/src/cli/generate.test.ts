import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProblem, readNpy } from '@attnfit/shared/io';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';
import { cli } from '../helpers/cli.js';

let tmp = '';

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'attnfit-gen-'));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('generate writes a loadable planted problem, problem.json and a JSON summary', async () => {
  const out = join(tmp, 'g1', 'nested');
  const r = await cli('generate', '--n', '50', '--d', '4', '--seed', '7', '--out', out, '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  const summary = JSON.parse(r.stdout);
  assert.equal(summary, {
    out,
    n: 50,
    d: 4,
    seed: 7,
    scale: 2,
    format: 'npy',
    files: ['A1.npy', 'A2.npy', 'A3.npy', 'B.npy', 'X_true.npy', 'Y_true.npy', 'problem.json'],
  });
  assert.equal((await readdir(out)).sort(), [
    'A1.npy',
    'A2.npy',
    'A3.npy',
    'B.npy',
    'X_true.npy',
    'Y_true.npy',
    'problem.json',
  ]);
  const p = await loadProblem(out);
  assert.is(p.n, 50);
  assert.is(p.d, 4);
  assert.equal((await readNpy(join(out, 'X_true.npy'))).shape, [4, 4]);
  const meta = JSON.parse(readFileSync(join(out, 'problem.json'), 'utf8'));
  assert.is(meta.n, 50);
  assert.is(meta.d, 4);
  assert.is(meta.seed, 7);
  assert.is(meta.scale, 2);
  // Logits have std ≈ scale: check the sample std of A1 X_true A2ᵀ is in a loose band.
  const X = (await readNpy(join(out, 'X_true.npy'))).data;
  let s2 = 0;
  for (let i = 0; i < 50; i++)
    for (let j = 0; j < 50; j++) {
      let v = 0;
      for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) v += p.A1[i * 4 + a]! * X[a * 4 + b]! * p.A2[j * 4 + b]!;
      s2 += v * v;
    }
  const std = Math.sqrt(s2 / 2500);
  assert.ok(std > 0.5 && std < 8, `logit std ${std}`);
  // Text summary without --json.
  const t = await cli('generate', '--n', '3', '--d', '2', '--out', join(tmp, 'g-text'));
  assert.is(t.code, 0, t.stderr);
  assert.match(
    t.stdout,
    /^attnfit: wrote planted problem n=3 d=2 \(seed 0, scale 2\) to .*g-text: A1\.npy .* problem\.json\n$/,
  );
});

test('generate is deterministic in (n, d, seed, scale) and the seed matters', async () => {
  const a = join(tmp, 'det-a'),
    b = join(tmp, 'det-b'),
    c = join(tmp, 'det-c');
  for (const [dir, seed] of [
    [a, '11'],
    [b, '11'],
    [c, '12'],
  ] as const) {
    const r = await cli('generate', '--n', '20', '--d', '3', '--seed', seed, '--scale', '1.5', '--out', dir);
    assert.is(r.code, 0, r.stderr);
  }
  for (const f of ['A1.npy', 'B.npy', 'X_true.npy', 'Y_true.npy']) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} identical for equal seeds`);
    assert.not.ok(readFileSync(join(a, f)).equals(readFileSync(join(c, f))), `${f} differs for another seed`);
  }
});

test('generate --format safetensors writes problem.safetensors that loads like the npy one', async () => {
  const s = join(tmp, 'st'),
    n = join(tmp, 'st-npy');
  assert.is(
    (await cli('generate', '--n', '9', '--d', '2', '--seed', '3', '--out', s, '--format', 'safetensors')).code,
    0,
  );
  assert.is((await cli('generate', '--n', '9', '--d', '2', '--seed', '3', '--out', n)).code, 0);
  assert.equal((await readdir(s)).sort(), ['X_true.npy', 'Y_true.npy', 'problem.json', 'problem.safetensors']);
  const ps = await loadProblem(join(s, 'problem.safetensors'));
  const pd = await loadProblem(s);
  const pn = await loadProblem(n);
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) {
    assert.equal(Array.from(ps[k]), Array.from(pn[k]), k);
    assert.equal(Array.from(pd[k]), Array.from(pn[k]), k);
  }
  // Re-generating in the other format replaces the problem files: the directory stays unambiguous.
  assert.is((await cli('generate', '--n', '5', '--d', '2', '--out', s)).code, 0);
  assert.equal((await readdir(s)).sort(), [
    'A1.npy',
    'A2.npy',
    'A3.npy',
    'B.npy',
    'X_true.npy',
    'Y_true.npy',
    'problem.json',
  ]);
  assert.is((await loadProblem(s)).n, 5);
});

test('bad generate options: exit 2, [CODE] and the option named, nothing written', async () => {
  const file = join(tmp, 'plain-file');
  await writeFile(file, 'x');
  const out = join(tmp, 'never');
  const cases: [string[], string, RegExp][] = [
    [['--n', '0', '--d', '3', '--out', out], 'BAD_OPTION', /--n: must be an integer >= 1 \(got "0"\)/],
    [['--n', 'abc', '--d', '3', '--out', out], 'BAD_OPTION', /--n: must be an integer \(got "abc"\)/],
    [['--n', '2.5', '--d', '3', '--out', out], 'BAD_OPTION', /--n: must be an integer/],
    [['--n', '4', '--d', '-1', '--out', out], 'BAD_OPTION', /--d: must be an integer >= 1 \(got "-1"\)/],
    [['--n', '4', '--d', '2', '--scale', '0', '--out', out], 'BAD_OPTION', /--scale: must be > 0 \(got "0"\)/],
    [
      ['--n', '4', '--d', '2', '--scale', 'nan', '--out', out],
      'BAD_OPTION',
      /--scale: must be a finite number \(got "nan"\)/,
    ],
    [
      ['--n', '4', '--d', '2', '--seed', '4294967296', '--out', out],
      'BAD_OPTION',
      /--seed: must be an integer in \[0, 4294967295\]/,
    ],
    [
      ['--n', '4', '--d', '2', '--format', 'hdf5', '--out', out],
      'BAD_OPTION',
      /--format: must be one of npy, safetensors \(got "hdf5"\)/,
    ],
    [['--n', '4', '--d', '2'], 'USAGE', /required option '--out <DIR>' not specified/],
    [['--d', '2', '--out', out], 'USAGE', /required option '--n <N>' not specified/],
    [['--n', '4', '--d', '2', '--out', out, '--bogus'], 'USAGE', /unknown option '--bogus'/],
    [['--n', '4', '--d', '2', '--out', file], 'BAD_OPTION', /--out .*plain-file: exists and is not a directory/],
    [['--n', '4', '--d', '2', '--out', join(file, 'sub')], 'BAD_OPTION', /plain-file is a file, not a directory/],
    [['--n', '100000', '--d', '100000', '--out', out], 'BAD_OPTION', /n·d = 10000000000 exceeds/],
  ];
  // Run four at a time (independent processes); check in case order.
  const results: Awaited<ReturnType<typeof cli>>[] = [];
  for (let i = 0; i < cases.length; i += 4)
    results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => cli('generate', ...args)))));
  for (const [k, [args, code, re]] of cases.entries()) {
    const r = results[k]!;
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.ok(r.stderr.startsWith(`attnfit: error [${code}]: `), r.stderr);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  assert.not.ok(existsSync(out), 'no output directory was created');
});

test('generate --help documents every option and exits 0', async () => {
  const r = await cli('generate', '--help');
  assert.is(r.code, 0);
  for (const o of [
    '--n <N>',
    '--d <D>',
    '--seed <S>',
    '--scale <S>',
    '--out <DIR>',
    '--format <F>',
    '--json',
    'xoshiro128**',
  ])
    assert.ok(r.stdout.includes(o), o);
});

test('generate --warm-noise writes X_warm.npy near X_true without changing the problem', async () => {
  const a = join(tmp, 'warm-a'),
    b = join(tmp, 'warm-b');
  assert.is((await cli('generate', '--n', '40', '--d', '3', '--seed', '5', '--out', a)).code, 0);
  const r = await cli('generate', '--n', '40', '--d', '3', '--seed', '5', '--out', b, '--warm-noise', '0.05');
  assert.is(r.code, 0, r.stderr);
  for (const f of ['A1.npy', 'A2.npy', 'A3.npy', 'B.npy', 'X_true.npy', 'Y_true.npy']) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} unchanged by --warm-noise`);
  }
  assert.not.ok(existsSync(join(a, 'X_warm.npy')));
  const Xt = (await readNpy(join(b, 'X_true.npy'))).data,
    Xw = (await readNpy(join(b, 'X_warm.npy'))).data;
  let diff = 0;
  for (let i = 0; i < 9; i++) diff += (Xw[i]! - Xt[i]!) ** 2;
  assert.ok(diff > 0 && Math.sqrt(diff / 9) < 0.5, `warm start noise rms ${Math.sqrt(diff / 9)} (scale 2, R 0.05)`);
  const bad = await cli('generate', '--n', '4', '--d', '2', '--out', join(tmp, 'warm-bad'), '--warm-noise', '-1');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /attnfit: error \[BAD_OPTION\]: --warm-noise: must be >= 0 \(got "-1"\)/);
});

test.run();
