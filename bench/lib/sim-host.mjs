#!/usr/bin/env node
// A light process hosting many simulated workers (bench/lib/sim.mjs) for bench/scaling.mjs:
// `node bench/lib/sim-host.mjs '<json config>'` with { servers, workers, threads (worker_threads
// of this process), params }. The workers are spread over `threads` worker threads (each worker
// has its own NATS connection); all share one coordinator-link clock (SharedArrayBuffer). Prints
// `ready <workers>` on stdout when every worker is subscribed; on SIGTERM or a closed stdin it
// drains them and exits 0.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { linkClock, startSimWorkers } from './sim.mjs';

if (isMainThread) {
  const cfg = JSON.parse(process.argv[2]);
  const link = linkClock();
  const k = Math.max(1, Math.min(cfg.threads ?? 8, cfg.workers));
  const threads = [];
  let started = 0;
  for (let t = 0; t < k; t++) {
    const count = Math.floor(cfg.workers / k) + (t < cfg.workers % k ? 1 : 0);
    const w = new Worker(fileURLToPath(import.meta.url), {
      workerData: { ...cfg, count, sab: link.sab, prefix: `attnfit-sim-${process.pid}-${t}` },
    });
    w.on('error', (err) => {
      process.stderr.write(`sim-host: thread ${t} failed: ${err.stack}\n`);
      process.exit(1);
    });
    w.on('message', (m) => {
      if (m === 'ready' && ++started === k) process.stdout.write(`ready ${cfg.workers}\n`);
    });
    threads.push(w);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(threads.map((w) => new Promise((r) => (w.once('exit', r), w.postMessage('stop')))));
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
} else {
  const { servers, count, params, sab, prefix } = workerData;
  const sim = await startSimWorkers({ servers, count, params, sab, prefix });
  parentPort.on('message', async (m) => {
    if (m !== 'stop') return;
    await sim.drain();
    process.exit(0);
  });
  parentPort.postMessage('ready');
}
