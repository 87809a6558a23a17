/**
 * The recorded trained-layer problems in bench/fixtures/layers (made by bench/train_layer.py; see
 * the README there): each loads as an attnfit problem, matches its problem.json, is
 * self-attention (A1 = A2 = A3), and — single-head ones — is fitted exactly by its recorded
 * X_true, Y_true (relative loss at rounding level), with attention rows that are peaked, not
 * uniform. Multi-head ones carry their per-head matrices and are not fitted by any one head.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProblem, readNpy } from '@attnfit/shared/io';
import { evaluateProblem } from '@attnfit/shared/math';

const DIR = fileURLToPath(new URL('../../../bench/fixtures/layers/', import.meta.url));
const names = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => existsSync(join(DIR, f, 'problem.json')))
      .sort()
  : [];

interface Info {
  n: number;
  d: number;
  heads: number;
  exactFit: boolean;
  checks: { relLossTruth: number | null };
}

/** Mean over rows of the largest softmax probability of A X Aᵀ (1/n for uniform rows). */
function meanRowMax(A: Float64Array, X: Float64Array, n: number, d: number): number {
  const T = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += A[i * d + k]! * X[k * d + c]!;
      T[i * d + c] = s;
    }
  const row = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += T[i * d + c]! * A[j * d + c]!;
      row[j] = s;
      if (s > mx) mx = s;
    }
    let z = 0;
    for (let j = 0; j < n; j++) z += Math.exp(row[j]! - mx);
    sum += 1 / z;
  }
  return sum / n;
}

test('bench/fixtures/layers holds the single-head n=256 d=8 layer and at least one multi-head layer', () => {
  const infos = names.map((nm) => JSON.parse(readFileSync(join(DIR, nm, 'problem.json'), 'utf8')) as Info);
  assert.ok(
    infos.some((i) => i.n === 256 && i.d === 8 && i.heads === 1),
    `fixtures: ${names.join(', ')}`,
  );
  assert.ok(
    infos.some((i) => i.heads > 1 && !i.exactFit),
    `fixtures: ${names.join(', ')}`,
  );
});

for (const name of names) {
  test(`layer fixture ${name}: loads, A1 = A2 = A3, shape as in problem.json, truth as recorded`, async () => {
    const dir = join(DIR, name);
    const info = JSON.parse(readFileSync(join(dir, 'problem.json'), 'utf8')) as Info;
    const p = await loadProblem(dir);
    assert.is(p.n, info.n);
    assert.is(p.d, info.d);
    for (const k of ['A1', 'A2', 'A3', 'B'])
      assert.is((await readNpy(join(dir, `${k}.npy`))).dtype, '<f8', `${k}.npy dtype`);
    assert.equal(p.A2, p.A1, 'A2 = A1');
    assert.equal(p.A3, p.A1, 'A3 = A1');
    const d = p.d;
    if (info.heads === 1) {
      assert.ok(info.exactFit);
      const X = (await readNpy(join(dir, 'X_true.npy'))).data,
        Y = (await readNpy(join(dir, 'Y_true.npy'))).data;
      let b2 = 0;
      for (const v of p.B) b2 += v * v;
      const rel = evaluateProblem(p, X, Y, { loss: true }).loss! / b2;
      assert.ok(rel <= 1e-26, `relative loss at X_true, Y_true: ${rel}`);
      // A trained head, not a uniform one: rows put far more than 1/n on their largest entry.
      const peak = meanRowMax(p.A1, X, p.n, d);
      assert.ok(peak > 20 / p.n, `mean row max ${peak} vs uniform ${1 / p.n}`);
    } else {
      assert.not.ok(info.exactFit);
      assert.equal((await readNpy(join(dir, 'X_heads.npy'))).shape, [info.heads, d, d]);
      assert.equal((await readNpy(join(dir, 'Y_heads.npy'))).shape, [info.heads, d, d]);
    }
  });
}

test.run();
