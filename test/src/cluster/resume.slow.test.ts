/**
 * Durable jobs: a running job survives a coordinator SIGKILL — the next coordinator resumes it
 * from the last KV checkpoint (resumedFrom records the iteration) and keeps iterating — and
 * `attnfit cancel` stops it (state cancelled, no result).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterClient, SOLVE_DEFAULTS, createOracle, solve, type SolveOptions } from '@attnfit/coordinator';
import { PROTOCOL_VERSION, SUBMIT_SUBJECT, TERMINAL_STATES, encode, type JobRecord } from '@attnfit/shared/protocol';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';
import { run, startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from './procs.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

let server: NatsServerHandle;
let work: string;
const procs: CliProc[] = [];

test.before(async () => {
  server = await startNatsServer();
  work = mkdtempSync(join(tmpdir(), 'attnfit-resume-'));
});

test.after(async () => {
  await stopAll(procs);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Next record of the job satisfying pred (KV watch: no polling). */
async function until(c: ClusterClient, id: string, pred: (r: JobRecord) => boolean): Promise<JobRecord> {
  for await (const r of c.store.watch(id, pred, AbortSignal.timeout(90_000), false)) if (pred(r)) return r;
  throw new Error(`watch of ${id} ended (90 s) before the expected record`);
}

test('coordinator SIGKILL mid-job → restart resumes from the checkpoint; cancel stops the job', async () => {
  const nats = ['--nats', server.url];
  const c1 = await startCoordinatorProc(nats);
  procs.push(c1);
  procs.push(await startWorkerProc(nats), await startWorkerProc(nats));
  const client = await ClusterClient.connect({ servers: server.url });
  try {
    const r = rng(3);
    const n = 96,
      d = 4;
    const p = {
      n,
      d,
      A1: randMatrix(r, n, d),
      A2: randMatrix(r, n, d),
      A3: randMatrix(r, n, d),
      B: randMatrix(r, n, d),
    };
    // A job that cannot finish on its own (huge max-iter, unreachable tol).
    const { jobId } = await client.submit(
      p,
      { method: 'adam', maxIter: 1_000_000, tol: 1e-300, gtol: 0 },
      'resume-test',
    );
    const before = await until(client, jobId, (x) => x.state === 'running' && x.iteration >= 3);
    c1.kill('SIGKILL');
    await c1.exit;
    const ck = await client.store.getCheckpoint(jobId);
    assert.ok(ck && ck.iteration >= before.iteration, 'checkpoint present');
    assert.is((await client.status(jobId)).state, 'running');

    procs.push(await startCoordinatorProc(nats));
    const resumed = await until(
      client,
      jobId,
      (x) => x.resumedFrom.length === 1 && x.iteration > x.resumedFrom[0]! + 2,
    );
    assert.is(resumed.state, 'running');
    assert.ok(resumed.resumedFrom[0]! >= 3, `resumed from ${resumed.resumedFrom[0]}`);

    const cancel = await run(['cancel', jobId, ...nats]);
    assert.is(cancel.code, 0, cancel.out);
    assert.is(cancel.stdout.trim(), `${jobId} cancelled`);
    const rec = await client.status(jobId);
    assert.ok(TERMINAL_STATES.has(rec.state));
    assert.is(rec.state, 'cancelled');
    const res = await run(['result', jobId, ...nats, '--out', join(work, 'r')]);
    assert.is(res.code, 1);
    assert.match(res.out, /\[CANCELLED\]/);
  } finally {
    await client.close();
  }
});

test('cancel of a queued job (no coordinator running) takes effect when a coordinator starts', async () => {
  await stopAll(procs.splice(0));
  const client = await ClusterClient.connect({ servers: server.url });
  try {
    const r = rng(4);
    const p = {
      n: 32,
      d: 2,
      A1: randMatrix(r, 32, 2),
      A2: randMatrix(r, 32, 2),
      A3: randMatrix(r, 32, 2),
      B: randMatrix(r, 32, 2),
    };
    // A malformed and an invalid submission first: the coordinator must log and drop them.
    await client.js.publish(SUBMIT_SUBJECT, new Uint8Array([0xc1, 0xc1]));
    await client.js.publish(
      SUBMIT_SUBJECT,
      encode({
        v: PROTOCOL_VERSION,
        kind: 'submit',
        jobId: 'bad-spec',
        submittedAt: 1,
        spec: { problem: {}, options: {} },
      }),
    );
    const { jobId } = await client.submit(p, { maxIter: 5 });
    await client.cancel(jobId, 0, false); // no coordinator yet: the stream keeps submit → cancel order
    const c = await startCoordinatorProc(['--nats', server.url]);
    procs.push(c);
    await c.line(/dropping stream message \d+: malformed message/);
    await c.line(/dropping stream message \d+: .*problem\.hash must be 64/);
    const rec = await until(client, jobId, (x) => TERMINAL_STATES.has(x.state));
    assert.is(rec.state, 'cancelled', JSON.stringify(rec.error));
  } finally {
    await client.close();
  }
});

test('coordinator SIGTERM → a resumed job ends bitwise identical to an uninterrupted solve (lbfgs, 60 iterations)', async () => {
  const nats = ['--nats', server.url];
  if (!procs.some((p) => p.proc.exitCode === null)) procs.push(await startCoordinatorProc(nats));
  procs.push(await startWorkerProc(nats), await startWorkerProc(nats));
  const coord = procs.find((p) => p.proc.exitCode === null)!;
  const client = await ClusterClient.connect({ servers: server.url });
  try {
    const r = rng(8);
    const n = 80,
      d = 3;
    const p = {
      n,
      d,
      A1: randMatrix(r, n, d),
      A2: randMatrix(r, n, d),
      A3: randMatrix(r, n, d),
      B: randMatrix(r, n, d),
    };
    const x0 = randMatrix(r, d, d, 0.5);
    const options = { method: 'lbfgs', maxIter: 60, tol: 1e-300, gtol: 0, x0 };
    const { jobId } = await client.submit(p, options, 'resume-bitwise');
    await until(client, jobId, (x) => x.state === 'running' && x.iteration >= 2);
    coord.kill('SIGTERM'); // graceful: the running job stays "running" for the next coordinator
    assert.is(await coord.exit, 0);
    assert.match(coord.out(), /interrupted by shutdown/);
    const mid = await client.status(jobId);
    assert.is(mid.state, 'running', 'the job finished before the coordinator was killed: test raced');
    procs.push(await startCoordinatorProc(nats));
    const rec = await until(client, jobId, (x) => TERMINAL_STATES.has(x.state));
    assert.is(rec.state, 'succeeded', JSON.stringify(rec.error));
    assert.is(rec.resumedFrom.length, 1);
    const res = await client.result(jobId);
    const local = await createOracle(p, { threads: 0 });
    const ref = await solve(local, { ...SOLVE_DEFAULTS, ...options } as SolveOptions);
    await local.close();
    assert.is(res.report.iterations, ref.iterations);
    for (let i = 0; i < d * d; i++) {
      assert.ok(Object.is(res.X[i], ref.X[i]), `X[${i}]: ${res.X[i]} vs ${ref.X[i]}`);
      assert.ok(Object.is(res.Y[i], ref.Y[i]), `Y[${i}]: ${res.Y[i]} vs ${ref.Y[i]}`);
    }
  } finally {
    await client.close();
  }
});

test.run();
