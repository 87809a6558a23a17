/**
 * Load: 50 small jobs submitted concurrently by 5 client processes (10 each, all at once) to one
 * coordinator (4 jobs at a time) and 2 one-thread workers, against a real nats-server with a file
 * store on loopback. Every job completes exactly once (one `succeeded` line per job in the
 * coordinator's log, one record each) with X and Y bitwise equal to a local solve of the same
 * problem (same GEMM backend); `attnfit jobs` lists all 50; the peak RSS (VmHWM) of the
 * coordinator and the workers is printed and stays under a generous bound.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOLVE_DEFAULTS, createOracle, solve, type SolveOptions } from '@attnfit/coordinator';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { run, startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from '../cluster/procs.js';
import { peakRssKiB } from './common.js';
import { loadProblem } from './load-problem.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

const CLIENTS = 5;
const PER_CLIENT = 10;
/** Generous: a coordinator or worker holding every job's problem and history would still fit. */
const RSS_BOUND_KIB = 1024 * 1024;
const CLIENT_JS = fileURLToPath(new URL('./load-client.js', import.meta.url));

let server: NatsServerHandle;
let work: string;
const procs: CliProc[] = [];

test.before(async () => {
  server = await startNatsServer();
  work = mkdtempSync(join(tmpdir(), 'attnfit-load-'));
});

test.after(async () => {
  await stopAll(procs);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface ClientResult {
  seed: number;
  jobId: string;
  state: string;
  error?: unknown;
  X?: number[];
  Y?: number[];
}

/** Run one client process to completion (killed after a bound, which fails the test). */
function client(seeds: number[], out: string): Promise<{ code: number | null; log: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLIENT_JS, server.url, out, ...seeds.map(String)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    p.stdout.on('data', (d) => (log += d));
    p.stderr.on('data', (d) => (log += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, log });
    });
  });
}

test('50 jobs from 5 concurrent clients on 2 workers: each completes exactly once, bitwise equal to local; jobs lists all 50; RSS bounded', async () => {
  const coordinator = await startCoordinatorProc(['--nats', server.url, '--max-jobs', '4']);
  procs.push(coordinator);
  const workers = [await startWorkerProc(['--nats', server.url]), await startWorkerProc(['--nats', server.url])];
  procs.push(...workers);

  const batches = Array.from({ length: CLIENTS }, (_, c) =>
    Array.from({ length: PER_CLIENT }, (_, j) => c * PER_CLIENT + j),
  );
  const outs = batches.map((_, c) => join(work, `client-${c}.json`));
  const ran = await Promise.all(batches.map((seeds, c) => client(seeds, outs[c]!)));
  ran.forEach((r, c) => assert.is(r.code, 0, `client ${c}: ${r.log}\ncoordinator:\n${coordinator.out()}`));
  const results = outs.flatMap((f) => JSON.parse(readFileSync(f, 'utf8')) as ClientResult[]);
  assert.is(results.length, CLIENTS * PER_CLIENT);
  assert.is(new Set(results.map((r) => r.jobId)).size, results.length, 'job ids are distinct');

  // Right result: bitwise equal to an in-process solve of the same problem.
  for (const r of results) {
    assert.is(r.state, 'succeeded', `${r.jobId}: ${JSON.stringify(r.error)}`);
    const { problem, options } = loadProblem(r.seed);
    const local = await createOracle(problem, { threads: 0 });
    const ref = await solve(local, { ...SOLVE_DEFAULTS, ...options } as SolveOptions);
    await local.close();
    for (let i = 0; i < ref.X.length; i++) {
      assert.ok(Object.is(r.X![i], ref.X[i]), `seed ${r.seed} X[${i}]: ${r.X![i]} vs ${ref.X[i]}`);
      assert.ok(Object.is(r.Y![i], ref.Y[i]), `seed ${r.seed} Y[${i}]: ${r.Y![i]} vs ${ref.Y[i]}`);
    }
  }

  // Exactly once: one "succeeded" line per job, no job run twice, none failed.
  const log = coordinator.out();
  for (const r of results) {
    const n = log.split('\n').filter((l) => l.includes(`job ${r.jobId} succeeded`)).length;
    assert.is(n, 1, `job ${r.jobId}: ${n} succeeded lines`);
  }
  assert.not.match(log, /failed|dropping stream message/);

  // `attnfit jobs` lists all 50, each once, succeeded.
  const jobs = await run(['jobs', '--nats', server.url, '--json']);
  assert.is(jobs.code, 0, jobs.out);
  const listed = JSON.parse(jobs.stdout) as Array<{ id: string; state: string }>;
  assert.is(listed.length, results.length);
  assert.equal(new Set(listed.map((j) => j.id)), new Set(results.map((r) => r.jobId)));
  assert.ok(listed.every((j) => j.state === 'succeeded'));

  // Memory: peak RSS of the long-running processes.
  const rss = [
    ['coordinator', peakRssKiB(coordinator.proc.pid)],
    ['worker 1', peakRssKiB(workers[0]!.proc.pid)],
    ['worker 2', peakRssKiB(workers[1]!.proc.pid)],
  ] as const;
  process.stdout.write(
    `peak RSS after ${results.length} jobs: ${rss.map(([w, k]) => `${w} ${((k ?? 0) / 1024).toFixed(0)} MiB`).join(', ')}\n`,
  );
  for (const [who, kib] of rss) {
    assert.ok(kib !== undefined, `${who}: no /proc status`);
    assert.ok(kib < RSS_BOUND_KIB, `${who}: peak RSS ${kib} KiB`);
  }
});

test.run();
