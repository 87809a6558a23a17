import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '@attnfit/shared/io';
import { rng, randn, randMatrix } from '../helpers/rng.js';
import { bruteEntry, outScale } from './brute.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

const BIN = fileURLToPath(new URL('../../../coordinator/bin/attnfit.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'attnfit-dyn-cli-'));
const n = 24,
  d = 4;
const R = rng(99);
const Q = randMatrix(R, n, d, 3),
  K = randMatrix(R, n, d, 3),
  V = randMatrix(R, n, d);

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (b) => {
      stdout += b;
    });
    p.stderr.on('data', (b) => {
      stderr += b;
    });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const files = ['--q', 'Q.npy', '--k', 'K.npy', '--v', 'V.npy'];

test.before(async () => {
  await writeNpy(join(dir, 'Q.npy'), Q, [n, d]);
  await writeNpy(join(dir, 'K.npy'), K, [n, d]);
  await writeNpy(join(dir, 'V.npy'), V, [n, d]);
  await writeNpy(join(dir, 'V_bad.npy'), V.subarray(0, (n - 1) * d), [n - 1, d]);
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('attnfit dynamic replays updates and prints exact queries (full double precision)', async () => {
  const Kt = K.slice(),
    Vt = V.slice();
  const lines: string[] = [];
  const want: Array<{ i: number; j: number; value: number }> = [];
  for (let t = 0; t < 120; t++) {
    const u = R(),
      i = Math.floor(R() * n),
      j = Math.floor(R() * d);
    if (u < 0.35) {
      const x = 2 * randn(R);
      lines.push(JSON.stringify({ op: 'updateK', i, j, delta: x }));
      Kt[i * d + j] += x;
    } else if (u < 0.55) {
      const x = randn(R);
      lines.push(JSON.stringify({ op: 'updateV', i, j, delta: x }));
      Vt[i * d + j] += x;
    } else if (u < 0.6) {
      const row = Array.from({ length: d }, () => randn(R));
      lines.push(JSON.stringify({ op: 'updateKRow', i, delta: row }));
      for (let c = 0; c < d; c++) Kt[i * d + c] += row[c]!;
    } else {
      lines.push(JSON.stringify({ op: 'query', i, j }));
      want.push({ i, j, value: bruteEntry(Q, Kt, Vt, n, d, i, j) });
    }
    if (t === 50) lines.push('');
  }
  writeFileSync(join(dir, 'ops.jsonl'), `${lines.join('\n')}\n`);
  for (const extra of [
    ['--tau', '0.25'],
    ['--tau', '0.75', '--mode', 'keys'],
    ['--tau', '0.5', '--deamortize'],
  ]) {
    const r = await run(['dynamic', ...files, '--ops', 'ops.jsonl', ...extra]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr, '');
    const got = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { i: number; j: number; value: number });
    assert.is(got.length, want.length);
    for (let k = 0; k < got.length; k++) {
      assert.is(got[k]!.i, want[k]!.i);
      assert.is(got[k]!.j, want[k]!.j);
      assert.ok(
        Math.abs(got[k]!.value - want[k]!.value) <= 1e-12 * outScale(Vt),
        `query ${k}: ${got[k]!.value} vs ${want[k]!.value}`,
      );
    }
    // full precision: the printed text round-trips to the same double
    const first = /"value":([^}]+)\}/.exec(r.stdout)![1]!;
    assert.is(String(Number(first)), first);
  }
});

const BAD: Array<[string, string, RegExp]> = [
  ['index out of range', '{"op":"updateK","i":24,"j":0,"delta":1}', /"i": must be an integer in \[0, 23\] \(got 24\)/],
  ['column out of range', '{"op":"query","i":0,"j":4}', /"j": must be an integer in \[0, 3\] \(got 4\)/],
  ['unknown op', '{"op":"deleteK","i":0,"j":0}', /"op": unknown op.*\(got "deleteK"\)/],
  ['non-finite delta', '{"op":"updateV","i":0,"j":0,"delta":"NaN"}', /"delta": must be a finite number \(got "NaN"\)/],
  ['missing delta', '{"op":"updateV","i":0,"j":0}', /"delta": must be a finite number \(got undefined\)/],
  ['bad JSON', '{"op":"query","i":0,', /invalid JSON/],
  ['not an object', '[1,2]', /op line: must be a JSON object/],
];

for (const [name, line, re] of BAD) {
  test(`bad op (${name}) → exit 2, BAD_OP naming file and line, nothing printed`, async () => {
    const ops = [
      '{"op":"query","i":0,"j":0}',
      '{"op":"updateK","i":1,"j":1,"delta":0.5}',
      '',
      '{"op":"query","i":1,"j":1}',
      '',
      '',
      line,
      '{"op":"query","i":2,"j":2}',
    ];
    writeFileSync(join(dir, 'bad.jsonl'), ops.join('\n'));
    const r = await run(['dynamic', ...files, '--ops', 'bad.jsonl']);
    assert.is(r.code, 2);
    assert.is(r.stdout, '', 'validated before printing anything');
    assert.match(r.stderr, /^attnfit: error \[BAD_OP\]: bad\.jsonl line 7: /);
    assert.match(r.stderr, re);
  });
}

test('bad inputs: shape mismatch, missing file, missing option, bad --tau', async () => {
  writeFileSync(join(dir, 'ok.jsonl'), '{"op":"query","i":0,"j":0}\n');
  let r = await run(['dynamic', '--q', 'Q.npy', '--k', 'K.npy', '--v', 'V_bad.npy', '--ops', 'ok.jsonl']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^attnfit: error \[SHAPE_MISMATCH\]: --v V_bad\.npy/);
  r = await run(['dynamic', ...files, '--ops', 'nope.jsonl']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^attnfit: error \[FILE_NOT_FOUND\]: --ops nope\.jsonl/);
  r = await run(['dynamic', '--q', 'Q.npy', '--k', 'K.npy', '--ops', 'ok.jsonl']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^attnfit: error \[USAGE\]: dynamic: missing required option --v/);
  r = await run(['dynamic', ...files, '--ops', 'ok.jsonl', '--tau', '1.5']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^attnfit: error \[BAD_OPTION\]: --tau: must be <= 1 \(got "1\.5"\)/);
  r = await run(['dynamic', 'serve']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /\[USAGE\]: --nats: a NATS server URL is required/);
});

test.run();
