#!/usr/bin/env node
// Build of the native BLAS GEMM addon: compiles attnfit_blas.c against Node's N-API headers and
// the system CBLAS (Debian: `apt-get install libopenblas-dev`) into native/build/attnfit_blas.node.
//   node native/build.mjs                 (`npm run build:native`): fails loudly when it cannot build
//   node native/build.mjs --if-possible   (part of `npm run build`): when the headers, a compiler or
//       the CBLAS library are missing it prints one line saying so, removes a stale addon, exits 0
// attnfit runs without the addon (WebAssembly kernels). Env ATTNFIT_NATIVE=0 skips the build;
// CC (default cc), BLAS_LIBS (default -lopenblas), NODE_INCLUDE (default <node prefix>/include/node).
// Either way it writes native/build/status.json ({ built, reason, compilerOutput }): the test
// runner prints it once at the start of `npm test`, with the compiler's error text when it failed.
// The turbo cache key of this build includes scripts/cblas-fingerprint.mjs's file, so installing or
// removing a CBLAS rebuilds it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Built by `tsc -b` just before this script (package.json "build"); plain JS reads the settings there too.
import { readEnv } from '../dist/config/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--if-possible');
const out = join(here, 'build', 'attnfit_blas.node');
const statusFile = join(here, 'build', 'status.json');
/** Record the outcome for the test runner's header (native/build/status.json). */
function writeStatus(status) {
  mkdirSync(join(here, 'build'), { recursive: true });
  writeFileSync(statusFile, `${JSON.stringify(status, null, 2)}\n`);
}
/** Gives up: loudly (exit 1) for an explicit build, with the reason (exit 0) for an optional one. */
function giveUp(msg, compilerOutput = '') {
  rmSync(out, { force: true }); // never leave an addon built against an older source or library
  writeStatus({ built: false, reason: msg, compilerOutput });
  const tail = compilerOutput.trim()
    ? `\n${compilerOutput
        .trimEnd()
        .split('\n')
        .slice(-20)
        .map((l) => `  | ${l}`)
        .join('\n')}`
    : '';
  if (!optional) {
    console.error(`build:native: ${msg}${tail}`);
    process.exit(1);
  }
  console.error(`build:native: skipped, the WebAssembly kernels will be used (${msg})${tail}`);
  process.exit(0);
}
let nativeOn;
try {
  nativeOn = readEnv('native');
} catch (err) {
  console.error(`build:native: ${err.message}`);
  process.exit(2);
}
if (optional && !nativeOn) giveUp('ATTNFIT_NATIVE=0');
const candidates = [
  process.env.NODE_INCLUDE,
  join(dirname(dirname(process.execPath)), 'include', 'node'),
  '/usr/include/node',
].filter(Boolean);
const inc = candidates.find((d) => existsSync(join(d, 'node_api.h')));
if (!inc) giveUp(`node_api.h not found (looked in ${candidates.join(', ')}); set NODE_INCLUDE`);
mkdirSync(join(here, 'build'), { recursive: true });
const args = [
  '-O3',
  '-ffp-contract=off',
  '-fno-math-errno',
  '-fno-trapping-math',
  '-shared',
  '-fPIC',
  '-std=c11',
  '-Wall',
  `-I${inc}`,
  '-I/usr/include/x86_64-linux-gnu',
  join(here, 'attnfit_blas.c'),
  '-o',
  out,
  ...(process.env.BLAS_LIBS ?? '-lopenblas').split(/\s+/).filter(Boolean),
];
const cc = process.env.CC ?? 'cc';
if (!optional) console.error(`build:native: ${cc} ${args.join(' ')}`);
const r = spawnSync(cc, args, { stdio: optional ? ['ignore', 'ignore', 'pipe'] : 'inherit', encoding: 'utf8' });
if (r.status !== 0)
  giveUp(
    `compile failed${r.error ? `: ${r.error.message}` : ''} (is a CBLAS installed? Debian: apt-get install libopenblas-dev)`,
    r.stderr ?? '',
  );
// Load it once here, so a library that links but does not load fails the build, not a run.
let info;
try {
  info = String(createRequire(import.meta.url)(out).info());
} catch (err) {
  giveUp(`built, but it does not load: ${err instanceof Error ? err.message : String(err)}`);
}
writeStatus({ built: true, reason: '', compilerOutput: r.stderr ?? '', config: info });
console.error(`build:native: wrote ${out}`);
