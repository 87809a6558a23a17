#!/usr/bin/env node
// attnfit test runner: runs every compiled uvu test file (test/dist/**/*.test.js) in its own
// Node process, two at a time, and ends with the plain line `N passed, N failed, N skipped` that
// CI reads. It starts with the state of the optional native BLAS backend (built or not, and the
// compiler's error when its build failed). A test that cannot exercise its subject here is
// registered with test/src/helpers/skip.ts: it counts as skipped and its reason is printed under
// its file; a uvu skip without a reason fails the file.
// Usage: node test/run.mjs [substring-filter ...]   (env TEST_JOBS=N, TEST_FILE_TIMEOUT_S=S)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const distDir = join(here, 'dist');
const filters = process.argv.slice(2);
const jobs = Number(process.env.TEST_JOBS) || Math.max(1, Math.min(2, availableParallelism()));
const timeoutS = Number(process.env.TEST_FILE_TIMEOUT_S) || 240;

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** One paragraph on the native BLAS backend: what the build did (shared/native/build/status.json) and what loads here. */
async function nativeStatus() {
  const file = join(here, '..', 'shared', 'native', 'build', 'status.json');
  let build;
  try {
    build = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
  } catch (err) {
    build = { built: false, reason: `unreadable ${file}: ${err.message}`, compilerOutput: '' };
  }
  let load;
  try {
    load = (await import('@attnfit/shared/native')).nativeBlasStatus();
  } catch (err) {
    load = { loaded: false, active: false, reason: `the loader failed: ${err.message}` };
  }
  const lines = [];
  if (load.active)
    lines.push(`native BLAS backend: built and active (${load.config}${load.exp ? '; its exp kernel too' : ''})`);
  else if (load.loaded) lines.push(`native BLAS backend: built, not active (${load.reason})`);
  else if (build && !build.built) lines.push(`native BLAS backend: not built: ${build.reason}`);
  else if (!build)
    lines.push(
      `native BLAS backend: unknown: no ${relative(join(here, '..'), file)} (run \`npm run build\`); ${load.reason}`,
    );
  else lines.push(`native BLAS backend: built, not loaded: ${load.reason}`);
  const cc = build && !build.built ? String(build.compilerOutput ?? '').trimEnd() : '';
  if (cc)
    lines.push(
      '  compiler output:',
      ...cc
        .split('\n')
        .slice(-30)
        .map((l) => `  | ${l}`),
    );
  if (!load.active) lines.push('  (tests that need it are reported skipped)');
  return lines.join('\n');
}

console.log(await nativeStatus());
console.log('');

const files = walk(distDir)
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
// Slow files (tagged by name) start first so two workers finish together.
files.sort((a, b) => Number(/\.slow\./.test(b)) - Number(/\.slow\./.test(a)));
// eslint-disable-next-line no-control-regex -- strips ANSI colour codes (ESC [ … m)
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0,
  failed = 0,
  skipped = 0;
const started = Date.now();

function runOne(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a hung file is killed with every server it started
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      out += `\n[runner] timed out after ${timeoutS}s\n`;
      killGroup();
    }, timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(); // reap anything the file left running (servers, CLI processes)
      const text = strip(out);
      // uvu's Total counts the tests that ran; Skipped the ones registered with test.skip.
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const sk = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      const reasons = text
        .split('\n')
        .filter((l) => l.startsWith('[skip] '))
        .map((l) => l.slice(7));
      let p = 0,
        f = 0,
        s = 0;
      if (Number.isFinite(total) && Number.isFinite(ok)) {
        p = ok;
        f = total - ok;
        s = sk;
      }
      const silent = s > reasons.length; // a skip nobody explained is a failure
      if (silent) f += 1;
      if ((code !== 0 || signal) && f === 0) f = 1; // crashed or hung without a failing count
      passed += p;
      failed += f;
      skipped += s;
      const name = relative(distDir, file);
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`${f ? 'FAIL' : 'ok  '} ${name}  (${p} passed, ${f} failed, ${s} skipped, ${secs}s)\n`);
      for (const r of reasons) process.stdout.write(`     skipped: ${r}\n`);
      if (silent)
        process.stdout.write(
          `     ${s - reasons.length} test(s) skipped without a reason: use testIf from test/src/helpers/skip.ts\n`,
        );
      if (f)
        process.stdout.write(
          text
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n') + '\n',
        );
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: jobs }, async () => {
    while (queue.length) await runOne(queue.shift());
  }),
);
if (files.length === 0) {
  console.log('no test files found (did the build run?)');
  failed += 1;
}
console.log(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)}s`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed ? 1 : 0;
