#!/usr/bin/env node
// Coordinator traffic of exact-Newton iterations on the NATS cluster (issue 12): bytes into and
// out of nats-server (its own /varz in_bytes / out_bytes counters) for `attnfit solve --nats
// --method newton --max-iter 1` from a warm start, with W worker processes, and — when the build
// reports them — the coordinator's own per-iteration byte counters from report.json.
//
// The solve runs twice; the second run is measured, so the problem upload (once per content hash)
// and the workers' problem fetch (once per worker) are not counted: what remains is the
// per-iteration traffic (iteration 0: the start's evaluations; iteration 1: one Newton step).
//
// Usage: node bench/traffic.mjs [--n 8192] [--d 16] [--workers 2] [--worker-threads 1]
//          [--root DIR]   (DIR: an attnfit checkout to run, default this one — e.g. an older build
//                          to measure "before")
// Prints one JSON object. Needs nats-server on PATH (Debian package nats-server).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const n = Number(opt('n', 8192));
const d = Number(opt('d', 16));
const nWorkers = Number(opt('workers', 2));
const workerThreads = Number(opt('worker-threads', 1));
const root = resolve(opt('root', join(fileURLToPath(import.meta.url), '..', '..')));
const cliPath = join(root, 'coordinator', 'bin', 'attnfit.js');

const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

const run = (argv) => {
  const r = spawnSync(process.execPath, [cliPath, ...argv], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`attnfit ${argv.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
};

const work = mkdtempSync(join(tmpdir(), 'attnfit-traffic-'));
const procs = [];
try {
  const port = await freePort();
  const mport = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const server = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-m', String(mport), '-js', '-sd', work],
    {
      stdio: 'ignore',
    },
  );
  procs.push(server);
  const varz = async () => {
    for (let i = 0; ; i++) {
      try {
        const v = await (await fetch(`http://127.0.0.1:${mport}/varz`)).json();
        return { in: v.in_bytes, out: v.out_bytes };
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await varz();
  const p = join(work, 'p');
  run(['generate', '--n', String(n), '--d', String(d), '--seed', '1', '--warm-noise', '0.05', '--out', p]);
  for (let w = 0; w < nWorkers; w++) {
    const child = spawn(process.execPath, [cliPath, 'worker', '--nats', url, '--threads', String(workerThreads)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    procs.push(child);
    await new Promise((res, rej) => {
      let err = '';
      child.stderr.on('data', (b) => {
        err += b;
        if (/ready/.test(err)) res();
      });
      child.on('exit', (c) => rej(new Error(`worker exited ${c}: ${err}`)));
    });
  }
  const solveArgs = (out) => [
    'solve',
    p,
    '--nats',
    url,
    '--method',
    'newton',
    '--max-iter',
    '1',
    '--no-search',
    '--x0',
    join(p, 'X_warm.npy'),
    '--out',
    join(work, out),
  ];
  run(solveArgs('warmup'));
  const before = await varz();
  const t0 = performance.now();
  run(solveArgs('fit'));
  const seconds = (performance.now() - t0) / 1000;
  const after = await varz();
  const report = JSON.parse(readFileSync(join(work, 'fit', 'report.json'), 'utf8'));
  const out = {
    root,
    n,
    d,
    workers: nWorkers,
    workerThreads,
    blocks: Math.ceil(n / report.blockRows),
    blockRows: report.blockRows,
    shards: report.shards ?? null,
    seconds: Number(seconds.toFixed(2)),
    natsServer: { inBytes: after.in - before.in, outBytes: after.out - before.out },
    coordinator: report.traffic
      ? {
          total: report.traffic,
          perIteration: report.history.map((h) => ({
            iteration: h.iteration,
            bytesSent: h.bytesSent,
            bytesReceived: h.bytesReceived,
          })),
        }
      : null,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  for (const c of procs.reverse()) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
}
