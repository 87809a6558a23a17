#!/usr/bin/env node
// The main job on the embedded default (local thread pool, no server): plant a problem, fit it
// from a warm start with Newton, and show the honest picture from random starts too.
// Run from the repo root after a build: `npm run demo` (outputs in out/demo/).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'coordinator', 'bin', 'attnfit.js');
const out = join(root, 'out', 'demo');
const n = process.env.DEMO_N ?? '2048', d = process.env.DEMO_D ?? '8';

function attnfit(...args) {
  console.log(`\n$ attnfit ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

attnfit('generate', '--n', n, '--d', d, '--seed', '1', '--warm-noise', '0.05', '--out', 'out/demo');
attnfit('solve', 'out/demo', '--x0', 'out/demo/X_warm.npy', '--out', 'out/demo/fit-warm', '--progress', '-');
attnfit('solve', 'out/demo', '--starts', '4', '--max-iter', '10', '--out', 'out/demo/fit-random');

const warm = JSON.parse(readFileSync(join(out, 'fit-warm', 'report.json'), 'utf8'));
const rnd = JSON.parse(readFileSync(join(out, 'fit-random', 'report.json'), 'utf8'));
console.log(`
Summary (n=${n}, d=${d}, ${warm.threads} threads, GEMM ${warm.gemm}):
  warm start   : ${warm.message} — ${warm.iterations} iterations, ${warm.seconds.toFixed(2)} s
  4 random     : ${rnd.message} — best of ${rnd.starts?.length ?? 4} starts, ${rnd.seconds.toFixed(2)} s
  outputs      : out/demo/fit-warm/{X.npy,Y.npy,report.json,loss.svg}
The problem is non-convex: from random starts Newton may stop at a stationary point that is not
a zero-residual fit, and attnfit says so. Warm starts (--x0) and --starts K are the remedies.`);
