#!/usr/bin/env node
// attnfit test runner: runs every compiled uvu test file (test/dist/**/*.test.js) in its own
// Node process, two at a time, and ends with the plain line `N passed, N failed` that CI reads.
// Usage: node test/run.mjs [substring-filter ...]   (env TEST_JOBS=N, TEST_FILE_TIMEOUT_S=S)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

const files = walk(distDir).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
// Slow files (tagged by name) start first so two workers finish together.
files.sort((a, b) => Number(/\.slow\./.test(b)) - Number(/\.slow\./.test(a)));
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0, failed = 0, skipped = 0;
const started = Date.now();

function runOne(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a hung file is killed with every server it started
    });
    const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } };
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n[runner] timed out after ${timeoutS}s\n`; killGroup(); }, timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(); // reap anything the file left running (servers, CLI processes)
      const text = strip(out);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const sk = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      let p = 0, f = 0;
      if (Number.isFinite(total) && Number.isFinite(ok)) { p = ok; f = total - ok - sk; skipped += sk; }
      if ((code !== 0 || signal) && f === 0) f = 1; // crashed or hung without a failing count
      passed += p; failed += f;
      const name = relative(distDir, file);
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`${f ? 'FAIL' : 'ok  '} ${name}  (${p} passed, ${f} failed${sk ? `, ${sk} skipped` : ''}, ${secs}s)\n`);
      // Skipped tests say why (test/src/helpers/skip.ts prints `SKIP name: reason`).
      for (const l of text.split('\n')) if (/^SKIP /.test(l)) process.stdout.write(`    ${l}\n`);
      if (f) process.stdout.write(text.split('\n').map((l) => `    ${l}`).join('\n') + '\n');
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(Array.from({ length: jobs }, async () => {
  while (queue.length) await runOne(queue.shift());
}));
if (files.length === 0) { console.log('no test files found (did the build run?)'); failed += 1; }
console.log(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)}s${skipped ? `, ${skipped} skipped` : ''}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
