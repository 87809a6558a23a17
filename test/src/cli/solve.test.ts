/**
 * `attnfit solve` end to end (spawned CLI): threads 1 vs 2 give bitwise-identical X.npy / Y.npy,
 * report.json and loss.svg are written, --json prints the report, bad options exit 2 naming the
 * option, and SIGINT mid-solve writes a usable best iterate with interrupted = true (exit 130).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readNpy, writeNpy } from '@attnfit/shared/io';
import { naiveLoss, norm2, perturbed, planted } from '../solver/planted.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

const bin = join(
  dirname(createRequire(import.meta.url).resolve('@attnfit/coordinator/package.json')),
  'bin',
  'attnfit.js',
);
const dir = mkdtempSync(join(tmpdir(), 'attnfit-solve-test-'));
const P = planted(128, 4, 3);
const prob = join(dir, 'prob');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], onStderrLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '',
      buf = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!onStderrLine) return;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onStderrLine(line, (s) => child.kill(s));
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test.before(async () => {
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) await writeNpy(join(prob, `${k}.npy`), P[k], [P.n, P.d]);
  await writeNpy(join(dir, 'x0.npy'), perturbed(P.Xtrue, 0.05, 9), [4, 4]);
  await writeNpy(join(dir, 'bad.npy'), new Float64Array(9), [3, 3]);
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('threads 1 and 2 write bitwise-identical X.npy and Y.npy; report.json and loss.svg are complete', async () => {
  const outs = [join(dir, 'o1'), join(dir, 'o2')];
  for (const [i, t] of [
    [0, '1'],
    [1, '2'],
  ] as const) {
    const r = await run([
      'solve',
      prob,
      '--out',
      outs[i]!,
      '--x0',
      join(dir, 'x0.npy'),
      '--threads',
      t,
      '--tol',
      '1e-14',
    ]);
    assert.is(r.code, 0, r.stderr);
  }
  for (const f of ['X.npy', 'Y.npy', 'report.json']) {
    const a = readFileSync(join(outs[0]!, f)),
      b = readFileSync(join(outs[1]!, f));
    if (f === 'report.json') continue;
    assert.ok(a.equals(b), `${f} differs between --threads 1 and 2`);
  }
  const rep = JSON.parse(readFileSync(join(outs[1]!, 'report.json'), 'utf8'));
  for (const k of [
    'loss',
    'relLoss',
    'iterations',
    'converged',
    'stopReason',
    'method',
    'seconds',
    'threads',
    'gemm',
    'history',
    'starts',
    'interrupted',
  ]) {
    assert.ok(k in rep, `report.json has ${k}`);
  }
  assert.is(rep.method, 'newton');
  assert.is(rep.threads, 2);
  assert.is(rep.converged, true);
  assert.is(rep.stopReason, 'tol');
  assert.is(rep.interrupted, false);
  assert.ok(rep.relLoss <= 1e-14);
  assert.is(rep.history.length, rep.iterations + 1);
  for (const h of rep.history) for (const k of ['loss', 'relLoss', 'gradNorm', 'seconds']) assert.type(h[k], 'number');
  assert.is(rep.starts.length, 1);
  const X = (await readNpy(join(outs[1]!, 'X.npy'))).data,
    Y = (await readNpy(join(outs[1]!, 'Y.npy'))).data;
  assert.ok(naiveLoss(P, X, Y) / norm2(P.B) < 1e-13, 'independent naive loss of the written X, Y');
  assert.match(
    readFileSync(join(outs[1]!, 'loss.svg'), 'utf8'),
    /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<polyline[\s\S]*<\/svg>\n$/,
  );
});

test('--starts 3: threads 1 (sequential) and 2 (two starts at a time) pick the same best start, same bits', async () => {
  const outs = [join(dir, 's1'), join(dir, 's2')];
  for (const [i, t] of [
    [0, '1'],
    [1, '2'],
  ] as const) {
    const r = await run([
      'solve',
      prob,
      '--out',
      outs[i]!,
      '--starts',
      '3',
      '--seed',
      '4',
      '--max-iter',
      '6',
      '--threads',
      t,
    ]);
    assert.is(r.code, 0, r.stderr);
  }
  assert.ok(readFileSync(join(outs[0]!, 'X.npy')).equals(readFileSync(join(outs[1]!, 'X.npy'))), 'X.npy differs');
  const [a, b] = outs.map((o) => JSON.parse(readFileSync(join(o, 'report.json'), 'utf8')));
  assert.is(a.bestStart, b.bestStart);
  assert.equal(
    a.starts.map((s: { seed: number; loss: number }) => [s.seed, s.loss]),
    b.starts.map((s: { seed: number; loss: number }) => [s.seed, s.loss]),
  );
  assert.equal(
    a.starts.map((s: { seed: number }) => s.seed),
    [4, 5, 6],
  );
});

test('--json prints report.json on stdout', async () => {
  const r = await run([
    'solve',
    prob,
    '--out',
    join(dir, 'oj'),
    '--x0',
    join(dir, 'x0.npy'),
    '--threads',
    '1',
    '--method',
    'lbfgs',
    '--max-iter',
    '3',
    '--json',
  ]);
  assert.is(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.is(rep.method, 'lbfgs');
  assert.is(rep.iterations, 3);
  assert.is(rep.stopReason, 'max-iter');
  assert.is(rep.converged, false);
});

test('bad options exit 2 naming the option and the value', async () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['--method', 'sgd'], 'BAD_OPTION', /--method.*"sgd"/],
    [['--tol', '0'], 'BAD_OPTION', /--tol.*"0"/],
    [['--threads', '0'], 'BAD_OPTION', /--threads.*"0"/],
    [['--max-iter', '-1'], 'BAD_OPTION', /--max-iter/],
    [['--starts', 'two'], 'BAD_OPTION', /--starts.*"two"/],
    [['--gamma', '-1'], 'BAD_OPTION', /--gamma/],
    [['--x0', join(dir, 'bad.npy')], 'SHAPE_MISMATCH', /--x0 .*bad\.npy.*\[3, 3\].*\[4, 4\]/],
    [['--x0', join(dir, 'missing.npy')], 'FILE_NOT_FOUND', /missing\.npy/],
  ];
  for (const [extra, code, re] of cases) {
    const r = await run(['solve', prob, '--out', join(dir, 'obad'), ...extra]);
    assert.is(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`attnfit: error [${code}]: `), r.stderr);
    assert.match(r.stderr, re);
  }
});

test('without --x0 the fit-from-scratch search runs (report.search, loss.svg of the best so far); --x0 and --starts skip it', async () => {
  const out = join(dir, 'osearch');
  const r = await run(['solve', prob, '--out', out, '--max-evals', '150', '--threads', '2', '--json']);
  assert.is(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.is(rep.options.search, true);
  assert.is(
    rep.search.stopReason === 'max-evals' || rep.search.stopReason === 'converged',
    true,
    rep.search.stopReason,
  );
  assert.ok(rep.search.starts.length >= 33, `${rep.search.starts.length} starts`);
  assert.ok(rep.search.families.some((f: { family: string }) => f.family === 'identity'));
  assert.is(rep.starts[0].init, 'search');
  assert.ok(readFileSync(join(out, 'loss.svg'), 'utf8').includes('population best so far'));
  const X = (await readNpy(join(out, 'X.npy'))).data,
    Y = (await readNpy(join(out, 'Y.npy'))).data;
  assert.ok(Math.abs(naiveLoss(P, X, Y) - rep.loss) <= 1e-9 * norm2(P.B));
  // same seed, other thread count: bitwise the same search
  const r1 = await run(['solve', prob, '--out', join(dir, 'osearch1'), '--max-evals', '150', '--threads', '1']);
  assert.is(r1.code, 0, r1.stderr);
  assert.ok(
    readFileSync(join(out, 'X.npy')).equals(readFileSync(join(dir, 'osearch1', 'X.npy'))),
    'X.npy equal for 1 and 2 threads',
  );
  for (const extra of [['--x0', join(dir, 'x0.npy')], ['--starts', '1'], ['--no-search']]) {
    const w = await run(['solve', prob, '--out', join(dir, 'onosearch'), '--max-iter', '2', '--json', ...extra]);
    assert.is(w.code, 0, w.stderr);
    const wr = JSON.parse(w.stdout);
    assert.is(wr.search, undefined, extra.join(' '));
    assert.is(wr.options.search, false);
  }
  // caps without a search are usage errors naming the flag and why
  for (const [extra, re] of [
    [['--x0', join(dir, 'x0.npy'), '--budget', '5'], /--budget: .*--x0 is given/],
    [['--starts', '2', '--max-evals', '9'], /--max-evals: .*--starts is given/],
    [['--no-search', '--budget', '1'], /--no-search is given/],
  ] as const) {
    const e = await run(['solve', prob, '--out', join(dir, 'ocap'), ...extra]);
    assert.is(e.code, 2, e.stderr);
    assert.ok(e.stderr.startsWith('attnfit: error [USAGE]: '), e.stderr);
    assert.match(e.stderr, re);
  }
  for (const [extra, re] of [
    [['--budget', '0'], /--budget.*"0"/],
    [['--max-evals', '0'], /--max-evals.*"0"/],
  ] as const) {
    const e = await run(['solve', prob, '--out', join(dir, 'ocap'), ...extra]);
    assert.is(e.code, 2, e.stderr);
    assert.ok(e.stderr.startsWith('attnfit: error [BAD_OPTION]: '), e.stderr);
    assert.match(e.stderr, re);
  }
});

test('SIGINT mid-solve writes the best iterate so far and report.json with interrupted = true, exit 130', async () => {
  const out = join(dir, 'oint');
  let sent = false;
  const r = await run(
    [
      'solve',
      prob,
      '--out',
      out,
      '--method',
      'adam',
      '--max-iter',
      '1000000',
      '--tol',
      '1e-300',
      '--gtol',
      '0',
      '--threads',
      '1',
      '--progress',
      '-',
    ],
    (line, kill) => {
      if (!sent && line.startsWith('{') && JSON.parse(line).iteration >= 2) {
        sent = true;
        kill('SIGINT');
      }
    },
  );
  assert.ok(sent, `no progress line seen: ${r.stderr}`);
  assert.is(r.code, 130, r.stderr);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.is(rep.interrupted, true);
  assert.is(rep.stopReason, 'interrupted');
  assert.is(rep.converged, false);
  assert.ok(rep.iterations >= 2);
  const X = (await readNpy(join(out, 'X.npy'))).data,
    Y = (await readNpy(join(out, 'Y.npy'))).data;
  assert.ok(X.every(Number.isFinite) && Y.every(Number.isFinite));
  const L = naiveLoss(P, X, Y);
  assert.ok(Math.abs(L - rep.loss) <= 1e-9 * norm2(P.B), `naive ${L} vs report ${rep.loss}`);
  assert.ok(rep.loss <= rep.history[0].loss, 'best iterate is no worse than the start');
});

test.run();
