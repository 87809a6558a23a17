#!/usr/bin/env node
// Opt-in build of the native BLAS GEMM addon (`npm run build:native` in shared/):
// compiles attnfit_blas.c against Node's N-API headers and the system CBLAS (Debian:
// `apt-get install libopenblas-dev`) into native/build/attnfit_blas.node. Never part of the
// default build; attnfit runs without it. Env CC (default cc), BLAS_LIBS (default -lopenblas),
// NODE_INCLUDE (default <node prefix>/include/node).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [process.env.NODE_INCLUDE, join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node'].filter(Boolean);
const inc = candidates.find((d) => existsSync(join(d, 'node_api.h')));
if (!inc) {
  console.error(`build:native: node_api.h not found (looked in ${candidates.join(', ')}); set NODE_INCLUDE`);
  process.exit(1);
}
mkdirSync(join(here, 'build'), { recursive: true });
const out = join(here, 'build', 'attnfit_blas.node');
const args = ['-O2', '-shared', '-fPIC', '-std=c11', '-Wall', `-I${inc}`, '-I/usr/include/x86_64-linux-gnu', join(here, 'attnfit_blas.c'), '-o', out,
  ...(process.env.BLAS_LIBS ?? '-lopenblas').split(/\s+/).filter(Boolean)];
const cc = process.env.CC ?? 'cc';
console.error(`build:native: ${cc} ${args.join(' ')}`);
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build:native: compile failed (is a CBLAS installed? Debian: apt-get install libopenblas-dev)');
  process.exit(1);
}
console.error(`build:native: wrote ${out}`);
