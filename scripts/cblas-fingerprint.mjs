#!/usr/bin/env node
// Writes shared/native/cblas.fingerprint: which CBLAS headers and libraries, compiler and N-API
// headers this machine has (paths, sizes, modification times). The file is an input of the
// shared package's turbo build (turbo.json), so installing or removing a CBLAS changes the build's
// cache key and `npm run build` / `npm test` compile (or drop) the native addon instead of
// replaying a cached build made without it. Run before `turbo run build` (the root scripts do);
// rewrites the file only when its content changes. Usage: node scripts/cblas-fingerprint.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'shared', 'native', 'cblas.fingerprint');

const cc = process.env.CC ?? 'cc';
const multiarch = (() => {
  const r = spawnSync(cc, ['-print-multiarch'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
})();
const arch = multiarch ? [multiarch] : [];
const includeDirs = [
  '/usr/include',
  ...arch.map((a) => `/usr/include/${a}`),
  '/usr/local/include',
  '/opt/homebrew/include',
  '/usr/include/openblas',
];
const libDirs = [
  '/usr/lib',
  ...arch.map((a) => `/usr/lib/${a}`),
  ...arch.map((a) => `/lib/${a}`),
  '/usr/lib64',
  '/usr/local/lib',
  '/opt/homebrew/lib',
];
// Libraries the addon may link: BLAS_LIBS's -l names (default -lopenblas) and the usual CBLAS providers.
const libNames = new Set([
  'openblas',
  'cblas',
  'blas',
  ...(process.env.BLAS_LIBS ?? '-lopenblas')
    .split(/\s+/)
    .filter((f) => f.startsWith('-l'))
    .map((f) => f.slice(2)),
]);

/** One line per existing path: path → realpath, size, mtime (missing paths are left out). */
function describe(path) {
  if (!existsSync(path)) return [];
  const real = realpathSync(path);
  const st = statSync(real);
  return [`${path} -> ${real} ${st.size} ${Math.trunc(st.mtimeMs)}`];
}

const which = (cmd) => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
};

const lines = [
  '# CBLAS fingerprint (scripts/cblas-fingerprint.mjs); an input of the turbo build of @attnfit/shared',
  `CC ${cc}: ${which(cc) ? describe(which(cc))[0] : 'not found'}`,
  `BLAS_LIBS ${process.env.BLAS_LIBS ?? '(default -lopenblas)'}`,
  ...includeDirs.flatMap((d) =>
    ['cblas.h', 'cblas-openblas.h', 'openblas_config.h'].flatMap((h) => describe(join(d, h))),
  ),
  ...libDirs.flatMap((d) =>
    [...libNames].flatMap((n) => [`lib${n}.so`, `lib${n}.a`, `lib${n}.dylib`].flatMap((f) => describe(join(d, f)))),
  ),
];
const text = `${lines.join('\n')}\n`;
const old = existsSync(out) ? readFileSync(out, 'utf8') : '';
if (old !== text) writeFileSync(out, text);
if (process.argv.includes('--print')) process.stdout.write(text);
