/**
 * Fault injection, worker side (real processes, one real nats-server with a file store on
 * loopback for the whole file). Each test runs one job (Adam, 30 iterations, n = 1024, d = 4) on
 * two fresh one-thread workers and injects a fault into one of them at iteration 5; the job must
 * end with X.npy / Y.npy bitwise equal to `attnfit solve` run locally (same GEMM backend), or —
 * for the mixed-backend cluster — equal to rounding. The coordinator's task timeout is 2 s, so
 * the faults below outlast it.
 * - SIGSTOP a worker for 3 s (> the task timeout), then SIGCONT: its late replies are ignored;
 * - the network between a worker and the server, through a TCP proxy on loopback: 100 ms delay
 *   each way; all its connections cut and new ones refused for 1.5 s; a 3 s partition (bytes
 *   held, then released);
 * - a worker with a different GEMM backend (ATTNFIT_GEMM=ts): exact to rounding, not bitwise.
 * SIGKILL of one of two workers: test/src/cluster/worker-loss.slow.test.ts; of the only worker
 * with a replacement started later: test/src/cluster/e2e.slow.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from '../cluster/procs.js';
import {
  assertBitwise,
  clusterReport,
  faultFor,
  maxRelDiff,
  problemWithLocalSolve,
  submitUntilIter,
} from './common.js';

const TASK_TIMEOUT_MS = 2000;
/** Longer than the task timeout: a frozen or partitioned worker's tasks time out (or are hedged). */
const FAULT_MS = 3000;

let server: NatsServerHandle;
let work: string;
let problem: string;
let local: string;
let coordinator: CliProc;
const procs: CliProc[] = [];
const proxies: TcpProxy[] = [];

test.before(async () => {
  server = await startNatsServer();
  work = mkdtempSync(join(tmpdir(), 'attnfit-faults-w-'));
  ({ problem, local } = await problemWithLocalSolve(work));
  coordinator = await startCoordinatorProc(['--nats', server.url, '--task-timeout-ms', String(TASK_TIMEOUT_MS)]);
  procs.push(coordinator);
});

test.after(async () => {
  await stopAll(procs);
  await Promise.all(proxies.map((p) => p.close()));
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Pair {
  healthy: CliProc;
  faulty: CliProc;
  proxy?: TcpProxy;
}

/** Two fresh workers; the faulty one optionally behind a proxy or with extra env. */
async function workers(o: { proxy?: boolean; env?: Record<string, string> } = {}): Promise<Pair> {
  const proxy = o.proxy ? await startTcpProxy(server.port) : undefined;
  if (proxy) proxies.push(proxy);
  const healthy = await startWorkerProc(['--nats', server.url]);
  procs.push(healthy);
  const faulty = await startWorkerProc(['--nats', proxy?.url ?? server.url], o.env);
  procs.push(faulty);
  return proxy ? { healthy, faulty, proxy } : { healthy, faulty };
}

/** Run the job, inject `fault` at iteration 5, expect success; returns the output dir. */
async function jobWithFault(label: string, pair: Pair, fault: (p: Pair) => Promise<void>): Promise<string> {
  const out = join(work, label);
  const job = await submitUntilIter(server.url, problem, out, procs);
  await fault(pair);
  const code = await job.done;
  assert.is(code, 0, `${label}: ${job.submit.out()}\ncoordinator:\n${coordinator.out()}`);
  // The faulty worker rode it out: still running (a fault is not a crash).
  assert.is(pair.faulty.proc.exitCode, null, `${label}: the faulty worker exited:\n${pair.faulty.out()}`);
  await stopAll([pair.healthy, pair.faulty]);
  return out;
}

test('SIGSTOP a worker longer than the task timeout, then SIGCONT: bitwise equal; late replies ignored', async () => {
  const out = await jobWithFault('sigstop', await workers(), async ({ faulty }) => {
    faulty.kill('SIGSTOP');
    await faultFor(FAULT_MS);
    faulty.kill('SIGCONT');
  });
  assertBitwise(out, local, 'sigstop');
  // The frozen worker's blocks went out again (hedged or retried after the timeout).
  const c = clusterReport(out);
  assert.ok(c.hedges + c.retries >= 1, `hedges ${c.hedges}, retries ${c.retries}`);
});

test('network: 100 ms delay each way between a worker and the server — bitwise equal', async () => {
  const pair = await workers({ proxy: true });
  pair.proxy!.setDelayMs(100);
  const out = await jobWithFault('delay', pair, async () => undefined);
  assertBitwise(out, local, 'delay');
});

test("network: a worker's connections cut and refused for 1.5 s, then allowed — it reconnects; bitwise equal", async () => {
  const pair = await workers({ proxy: true });
  const out = await jobWithFault('cut', pair, async ({ proxy }) => {
    proxy!.refuse(true);
    proxy!.cut();
    await faultFor(1500);
    proxy!.refuse(false);
  });
  assertBitwise(out, local, 'cut');
  // The worker came back through the proxy (a second connection) and still serves.
  assert.ok(pair.proxy!.accepted >= 2, `connections through the proxy: ${pair.proxy!.accepted}`);
});

test('network: a 3 s partition (bytes held, then released late) — bitwise equal', async () => {
  const out = await jobWithFault('partition', await workers({ proxy: true }), async ({ proxy }) => {
    proxy!.hold(true);
    await faultFor(FAULT_MS);
    proxy!.hold(false);
  });
  assertBitwise(out, local, 'partition');
});

test('a worker with another GEMM backend (ATTNFIT_GEMM=ts): equal to rounding, not necessarily bitwise', async () => {
  const out = await jobWithFault('gemm', await workers({ env: { ATTNFIT_GEMM: 'ts' } }), async () => undefined);
  const diff = await maxRelDiff(out, local);
  // Adam's 30 steps carry the ~1e-16 differences of the block partials; far below any fit tolerance.
  assert.ok(diff <= 1e-9, `max relative difference ${diff}`);
  process.stdout.write(`mixed GEMM backends: max relative difference of X, Y vs local: ${diff.toExponential(2)}\n`);
});

test.run();
