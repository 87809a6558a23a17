import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProblem, readNpy, writeNpy } from '@attnfit/shared/io';
import { evaluateProblem } from '@attnfit/shared/math';
import { rng, randn, randMatrix } from '../helpers/rng.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';
import { cli } from '../helpers/cli.js';

const FIX = fileURLToPath(new URL('../../fixtures/', import.meta.url));
let tmp = '';

interface P {
  n: number;
  d: number;
  A1: Float64Array;
  A2: Float64Array;
  A3: Float64Array;
  B: Float64Array;
}

/** Independent, deliberately naive L, ∇_X L, ∇_Y L (per row j, stable softmax). */
function simple(
  p: P,
  X: ArrayLike<number>,
  Y: ArrayLike<number>,
): { loss: number; gX: Float64Array; gY: Float64Array } {
  const { n, d } = p;
  const H = new Float64Array(n * d); // A3 Y
  for (let k = 0; k < n; k++)
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let a = 0; a < d; a++) s += p.A3[k * d + a]! * Y[a * d + c]!;
      H[k * d + c] = s;
    }
  const A2X = new Float64Array(n * d); // row k: (X A2ᵀ)ᵀ row = A2_k Xᵀ
  for (let k = 0; k < n; k++)
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += X[a * d + b]! * p.A2[k * d + b]!;
      A2X[k * d + a] = s;
    }
  let loss = 0;
  const gX = new Float64Array(d * d),
    gY = new Float64Array(d * d);
  const s = new Float64Array(n),
    f = new Float64Array(n),
    c = new Float64Array(d),
    g = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let mx = -Infinity;
    for (let k = 0; k < n; k++) {
      let v = 0;
      for (let a = 0; a < d; a++) v += p.A1[j * d + a]! * A2X[k * d + a]!;
      s[k] = v;
      mx = Math.max(mx, v);
    }
    let z = 0;
    for (let k = 0; k < n; k++) {
      f[k] = Math.exp(s[k]! - mx);
      z += f[k]!;
    }
    for (let k = 0; k < n; k++) f[k] = f[k]! / z;
    for (let m = 0; m < d; m++) {
      let v = -p.B[j * d + m]!;
      for (let k = 0; k < n; k++) v += f[k]! * H[k * d + m]!;
      c[m] = v;
      loss += v * v;
    }
    // ∇_Y: 2 A3ᵀ fᵀ c  → Σ_k f_k A3_k ⊗ c
    for (let k = 0; k < n; k++)
      for (let a = 0; a < d; a++) {
        const w = 2 * f[k]! * p.A3[k * d + a]!;
        for (let m = 0; m < d; m++) gY[a * d + m] += w * c[m]!;
      }
    // softmax backward: g_k = H_k·c, p_k = f_k (g_k − Σ f g)
    let fg = 0;
    for (let k = 0; k < n; k++) {
      let v = 0;
      for (let m = 0; m < d; m++) v += H[k * d + m]! * c[m]!;
      g[k] = v;
      fg += f[k]! * v;
    }
    for (let k = 0; k < n; k++) {
      const pk = 2 * f[k]! * (g[k]! - fg);
      for (let a = 0; a < d; a++) {
        const w = pk * p.A1[j * d + a]!;
        for (let b = 0; b < d; b++) gX[a * d + b] += w * p.A2[k * d + b]!;
      }
    }
  }
  return { loss, gX, gY };
}

function frob(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-300);
}
function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-300), `${what}: ${a} vs ${b}`);
}

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'attnfit-loss-'));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('generate → loss at X_true, Y_true: relLoss ≈ 0', async () => {
  const dir = join(tmp, 'planted');
  assert.is((await cli('generate', '--n', '200', '--d', '6', '--seed', '5', '--out', dir)).code, 0);
  const r = await cli('loss', dir, '--x', join(dir, 'X_true.npy'), '--y', join(dir, 'Y_true.npy'));
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim().split('\n').length, 1, 'exactly one line');
  const o = JSON.parse(r.stdout);
  assert.equal(Object.keys(o), ['loss', 'relLoss', 'gradNormX', 'gradNormY']);
  assert.ok(o.relLoss >= 0 && o.relLoss <= 1e-20, `relLoss ${o.relLoss}`);
  assert.ok(o.gradNormX <= 1e-9 && o.gradNormY <= 1e-9, r.stdout);
});

test('loss, written gradients and norms match an independent implementation and the in-process ones (n=200, d=6)', async () => {
  const dir = join(tmp, 'planted');
  const p = await loadProblem(dir);
  const r0 = rng(42);
  const Xt = (await readNpy(join(dir, 'X_true.npy'))).data,
    Yt = (await readNpy(join(dir, 'Y_true.npy'))).data;
  const X = Xt.map((v) => v + 0.4 * randn(r0)),
    Y = Yt.map((v) => v + 0.4 * randn(r0));
  await writeNpy(join(tmp, 'X.npy'), X, [6, 6]);
  await writeNpy(join(tmp, 'Y.npy'), Y, [6, 6]);
  const r = await cli(
    'loss',
    dir,
    '--x',
    join(tmp, 'X.npy'),
    '--y',
    join(tmp, 'Y.npy'),
    '--grad-out',
    join(tmp, 'grads'),
    '--threads',
    '2',
  );
  assert.is(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  const ref = simple(p, X, Y);
  let b2 = 0;
  for (const v of p.B) b2 += v * v;
  assert.ok(ref.loss > 1e-3, 'perturbed point has a real residual');
  close(o.loss, ref.loss, 1e-12, 'loss');
  close(o.relLoss, ref.loss / b2, 1e-12, 'relLoss');
  close(o.gradNormX, frob(ref.gX), 1e-10, 'gradNormX');
  close(o.gradNormY, frob(ref.gY), 1e-10, 'gradNormY');
  const gX = await readNpy(join(tmp, 'grads', 'gradX.npy')),
    gY = await readNpy(join(tmp, 'grads', 'gradY.npy'));
  assert.equal(gX.shape, [6, 6]);
  assert.equal(gY.shape, [6, 6]);
  assert.ok(maxRel(gX.data, ref.gX) < 1e-10, `gradX rel err ${maxRel(gX.data, ref.gX)}`);
  assert.ok(maxRel(gY.data, ref.gY) < 1e-10, `gradY rel err ${maxRel(gY.data, ref.gY)}`);
  // Bitwise equal to the in-process evaluation the CLI uses.
  const inproc = await evaluateProblem(p, X, Y, { loss: true, gradX: true, gradY: true });
  assert.equal(Array.from(gX.data), Array.from(inproc.gradX!));
  assert.equal(Array.from(gY.data), Array.from(inproc.gradY!));
  assert.is(o.loss, inproc.loss);
  // Inline (--threads 1) and pooled evaluations print identical numbers.
  const r1 = await cli('loss', dir, '--x', join(tmp, 'X.npy'), '--y', join(tmp, 'Y.npy'), '--threads', '1');
  assert.is(r1.code, 0, r1.stderr);
  assert.is(r1.stdout, r.stdout);
});

test('Hessian (d=3) matches central differences of the independent gradient', async () => {
  const dir = join(tmp, 'hess');
  assert.is((await cli('generate', '--n', '40', '--d', '3', '--seed', '9', '--scale', '1.5', '--out', dir)).code, 0);
  const p = await loadProblem(dir);
  const r0 = rng(7);
  const X = randMatrix(r0, 3, 3, 0.8),
    Y = randMatrix(r0, 3, 3, 1);
  await writeNpy(join(dir, 'X.npy'), X, [3, 3]);
  await writeNpy(join(dir, 'Y.npy'), Y, [3, 3]);
  const hPath = join(tmp, 'hout', 'H.npy');
  const r = await cli('loss', dir, '--x', join(dir, 'X.npy'), '--y', join(dir, 'Y.npy'), '--hessian-out', hPath);
  assert.is(r.code, 0, r.stderr);
  const H = await readNpy(hPath);
  assert.equal(H.shape, [9, 9]);
  const h = 1e-5,
    fd = new Float64Array(81);
  for (let k = 0; k < 9; k++) {
    const Xp = X.slice(),
      Xm = X.slice();
    Xp[k] += h;
    Xm[k] -= h;
    const gp = simple(p, Xp, Y).gX,
      gm = simple(p, Xm, Y).gX;
    for (let i = 0; i < 9; i++) fd[i * 9 + k] = (gp[i]! - gm[i]!) / (2 * h);
  }
  assert.ok(maxRel(H.data, fd) < 1e-6, `Hessian vs finite differences: ${maxRel(H.data, fd)}`);
  for (let i = 0; i < 9; i++)
    for (let k = 0; k < 9; k++) close(H.data[i * 9 + k]!, H.data[k * 9 + i]!, 1e-10, `symmetry ${i},${k}`);
});

test('numpy fixture (n=7, d=3): loss, gradients and exact Hessian match numpy', async () => {
  const P = join(FIX, 'problem');
  const want = JSON.parse(readFileSync(join(P, 'expected.json'), 'utf8'));
  const r = await cli(
    'loss',
    P,
    '--x',
    join(P, 'X.npy'),
    '--y',
    join(P, 'Y.npy'),
    '--grad-out',
    join(tmp, 'fx'),
    '--hessian-out',
    join(tmp, 'fx', 'H.npy'),
  );
  assert.is(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  close(o.loss, want.loss, 1e-12, 'loss');
  close(o.relLoss, want.relLoss, 1e-12, 'relLoss');
  assert.ok(maxRel((await readNpy(join(tmp, 'fx', 'gradX.npy'))).data, want.gradX) < 1e-11);
  assert.ok(maxRel((await readNpy(join(tmp, 'fx', 'gradY.npy'))).data, want.gradY) < 1e-11);
  assert.ok(maxRel((await readNpy(join(tmp, 'fx', 'H.npy'))).data, want.hessXX) < 1e-10);
  // The same problem from the safetensors fixture gives the same numbers.
  const s = await cli(
    'loss',
    join(FIX, 'safetensors', 'problem.safetensors'),
    '--x',
    join(P, 'X.npy'),
    '--y',
    join(P, 'Y.npy'),
  );
  assert.is(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout), o);
});

test('bad loss inputs: exit 2, one stderr line naming code and field, no outputs written', async () => {
  const P = join(FIX, 'problem'),
    X = join(P, 'X.npy'),
    Y = join(P, 'Y.npy');
  const go = join(tmp, 'bad-grads'),
    ho = join(tmp, 'bad-h', 'H.npy');
  const file = join(tmp, 'a-file');
  await writeFile(file, 'x');
  await writeNpy(join(tmp, 'X34.npy'), new Float64Array(12), [3, 4]);
  await writeNpy(join(tmp, 'Ynan.npy'), [0, 0, 0, 0, NaN, 0, 0, 0, 0], [3, 3]);
  await mkdir(join(tmp, 'empty-dir'), { recursive: true });
  const outs = ['--grad-out', go, '--hessian-out', ho];
  const cases: [string[], string, string | RegExp][] = [
    [[join(tmp, 'nope'), '--x', X, '--y', Y, ...outs], 'FILE_NOT_FOUND', /nope: problem not found/],
    [[join(tmp, 'empty-dir'), '--x', X, '--y', Y, ...outs], 'FILE_NOT_FOUND', /empty-dir\/A1\.npy: file not found/],
    [
      [P, '--x', join(tmp, 'X34.npy'), '--y', Y, ...outs],
      'SHAPE_MISMATCH',
      `--x ${join(tmp, 'X34.npy')}: shape [3, 4], expected [3, 3]`,
    ],
    [[P, '--x', X, '--y', join(tmp, 'Ynan.npy'), ...outs], 'NON_FINITE', `--y ${join(tmp, 'Ynan.npy')}: NaN at [1, 1]`],
    [
      [P, '--x', join(tmp, 'missing.npy'), '--y', Y, ...outs],
      'FILE_NOT_FOUND',
      `--x ${join(tmp, 'missing.npy')}: file not found`,
    ],
    [[P, '--x', join(FIX, 'npy', 'bad_i8.npy'), '--y', Y, ...outs], 'BAD_DTYPE', /--x .*bad_i8\.npy: dtype '<i8'/],
    [
      [P, '--x', join(FIX, 'npy', 'bad_truncated.npy'), '--y', Y, ...outs],
      'BAD_FILE',
      /--x .*bad_truncated\.npy: truncated/,
    ],
    [
      [P, '--x', X, '--y', Y, '--threads', '0', ...outs],
      'BAD_OPTION',
      '--threads: must be an integer in [1, 4096] (got "0")',
    ],
    [
      [P, '--x', X, '--y', Y, '--grad-out', file, '--hessian-out', ho],
      'BAD_OPTION',
      `--grad-out ${file}: exists and is not a directory`,
    ],
    [
      [P, '--x', X, '--y', Y, '--grad-out', go, '--hessian-out', tmp],
      'BAD_OPTION',
      /--hessian-out .*: is a directory, expected a file path/,
    ],
    [[P, '--y', Y, ...outs], 'USAGE', /required option '--x <X\.npy>' not specified/],
    [['--x', X, '--y', Y], 'USAGE', /missing required argument 'PROBLEM'/],
    [[P, P, '--x', X, '--y', Y], 'USAGE', /too many arguments/],
  ];
  // Run four at a time (independent processes); check in case order.
  const results: Awaited<ReturnType<typeof cli>>[] = [];
  for (let i = 0; i < cases.length; i += 4)
    results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => cli('loss', ...args)))));
  for (const [k, [args, code, msg]] of cases.entries()) {
    const r = results[k]!;
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    const line = r.stderr.trimEnd();
    assert.is(line.split('\n').length, 1, line);
    if (typeof msg === 'string') assert.is(line, `attnfit: error [${code}]: ${msg}`);
    else {
      assert.ok(line.startsWith(`attnfit: error [${code}]: `), line);
      assert.match(line, msg);
    }
  }
  assert.not.ok(existsSync(go), 'no --grad-out directory');
  assert.not.ok(existsSync(join(tmp, 'bad-h')), 'no --hessian-out file');
});

test('loss --help documents the options and the output', async () => {
  const r = await cli('loss', '--help');
  assert.is(r.code, 0);
  for (const o of [
    '<PROBLEM>',
    '--x <X.npy>',
    '--y <Y.npy>',
    '--grad-out <DIR>',
    '--hessian-out <H.npy>',
    '--threads <N>',
    'relLoss',
  ])
    assert.ok(r.stdout.includes(o), o);
});

test.run();
