/**
 * Dashboard state and metrics without a cluster: ETA estimates (hand-computed), job rows and loss
 * histories from observer events, worker rows from heartbeats (rates, lost after 3 silent
 * intervals, an injected clock), the Prometheus text of both registries parsed back, --http
 * address parsing, and the heartbeat message codec.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterState, createCoordinatorMetrics, estimateEta } from '@attnfit/coordinator/internal';
import { createWorkerMetrics } from '@attnfit/worker/internal';
import { parseHttpAddress, isLoopbackHost } from '@attnfit/shared/runtime';
import {
  PROTOCOL_VERSION,
  decodeMessage,
  encode,
  type JobRecord,
  type WorkerHeartbeatMsg,
} from '@attnfit/shared/protocol';
import { parseProm, value } from '../helpers/prom.js';

const HASH = 'a'.repeat(64);
function record(id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    v: PROTOCOL_VERSION,
    kind: 'job',
    id,
    state: 'queued',
    problem: { hash: HASH, n: 100, d: 4, object: `problem-${HASH}` },
    options: {},
    submittedAt: 1_000,
    iteration: 0,
    resumedFrom: [],
    ...over,
  };
}
function heartbeat(over: Partial<WorkerHeartbeatMsg> = {}): WorkerHeartbeatMsg {
  return {
    v: PROTOCOL_VERSION,
    kind: 'worker.heartbeat',
    name: 'w1',
    host: 'h1',
    pid: 42,
    threads: 2,
    gemm: 'wasm-simd',
    version: '0.1.0',
    state: 'up',
    startedAt: 0,
    sentAt: 0,
    intervalMs: 1000,
    tasks: 0,
    errors: 0,
    inFlight: 0,
    cached: 0,
    fetches: 0,
    ...over,
  };
}

test('estimateEta: log-linear rate to tol, capped by maxIter, later starts added, undefined with < 2 points', () => {
  assert.is(estimateEta([{ iteration: 0, relLoss: 1e-2, seconds: 0 }], { tol: 1e-12, maxIter: 50 }), undefined);
  // 2 decades per iteration, 2 s per iteration, 8 decades to go → 4 iterations → 8 s.
  assert.equal(
    estimateEta(
      [
        { iteration: 0, relLoss: 1e-2, seconds: 0 },
        { iteration: 1, relLoss: 1e-4, seconds: 2 },
      ],
      { tol: 1e-12, maxIter: 50 },
    ),
    { seconds: 8, basis: 'rate' },
  );
  // Not decreasing: only maxIter bounds it: 48 iterations left × 0.5 s.
  assert.equal(
    estimateEta(
      [
        { iteration: 0, relLoss: 0.3, seconds: 0 },
        { iteration: 2, relLoss: 0.3, seconds: 1 },
      ],
      { tol: 1e-12, maxIter: 50 },
    ),
    { seconds: 24, basis: 'max-iter' },
  );
  // Two more starts of at most 10 iterations each: (min(8, 1) + 20) × 1 s.
  assert.equal(
    estimateEta(
      [
        { iteration: 1, relLoss: 1e-1, seconds: 1 },
        { iteration: 2, relLoss: 1e-2, seconds: 2 },
      ],
      { tol: 1e-3, maxIter: 10, startsLeft: 2 },
    ),
    { seconds: 21, basis: 'rate' },
  );
  // Already below tol: nothing left.
  assert.equal(
    estimateEta(
      [
        { iteration: 0, relLoss: 1e-2, seconds: 0 },
        { iteration: 1, relLoss: 1e-13, seconds: 1 },
      ],
      { tol: 1e-12, maxIter: 50 },
    ),
    { seconds: 0, basis: 'rate' },
  );
});

test('ClusterState: job rows, histories (resume replaces later points), tasks and retries per job', () => {
  let now = 10_000;
  const s = new ClusterState(() => now);
  const seen: string[] = [];
  s.subscribe((ev) => seen.push(ev.kind));
  const r = record('j1', { options: { method: 'lbfgs', maxIter: 20, tol: 1e-10 } });
  s.job(r);
  r.state = 'running';
  r.startedAt = 9_000;
  s.job(r);
  for (let i = 0; i <= 3; i++)
    s.iteration('j1', { start: 0, iteration: i, loss: 10 ** -i, relLoss: 10 ** -(i + 1), gradNorm: 1, seconds: i });
  s.iteration('j1', { start: 0, iteration: 2, loss: 0.01, relLoss: 5e-3, gradNorm: 1, seconds: 2, replayed: true });
  s.task({ jobId: 'j1', ok: true, worker: 'wX', ms: 3, bytesOut: 100, bytesIn: 200 });
  s.task({ jobId: 'j1', ok: false, code: 'TIMEOUT', ms: 3, bytesOut: 100, bytesIn: 0 });
  s.retry({ jobId: 'j1', block: 0, attempt: 1, code: 'TIMEOUT' });
  r.iteration = 3;
  r.relLoss = 1e-4;
  s.job(r);
  const snap = s.snapshot();
  assert.is(snap.jobs.length, 1);
  const j = snap.jobs[0]!;
  assert.is(j.method, 'lbfgs');
  assert.is(j.state, 'running');
  assert.is(j.iteration, 3);
  assert.is(j.elapsedS, 1);
  assert.is(j.tasks, 2);
  assert.is(j.retries, 1);
  assert.is(j.points, 3, 'the replayed iteration 2 replaced iterations 2 and 3');
  assert.ok(j.etaS !== undefined && j.etaS > 0);
  assert.equal(
    s.history('j1')!.map((p) => p.relLoss),
    [1e-1, 1e-2, 5e-3],
  );
  assert.is(s.history('nope'), undefined);
  assert.equal(snap.totals, { tasks: 2, retries: 1, iterations: 3 });
  // A worker seen only in replies is listed as "unknown".
  assert.equal(
    snap.workers.map((w) => [w.name, w.status]),
    [['wX', 'unknown']],
  );
  assert.ok(seen.includes('point') && seen.includes('changed'));
  // Auto method names the method solve() will pick for d = 4.
  s.job(record('j2', { submittedAt: 2_000 }));
  assert.is(s.snapshot().jobs[0]!.method, 'auto (newton)');
  now += 1;
});

test('ClusterState: worker rows from heartbeats, tasks/s, lost after 3 silent intervals, stopping', () => {
  let now = 50_000;
  const s = new ClusterState(() => now);
  s.heartbeat(heartbeat({ sentAt: 50_000, tasks: 10, cached: 1 }));
  now = 52_000;
  s.heartbeat(heartbeat({ sentAt: 52_000, tasks: 30, cached: 2, inFlight: 1 }));
  let w = s.snapshot().workers[0]!;
  assert.equal(
    [w.name, w.host, w.threads, w.gemm, w.status, w.tasks, w.cached, w.inFlight],
    ['w1', 'h1', 2, 'wasm-simd', 'up', 30, 2, 1],
  );
  assert.is(w.tasksPerSec, 10);
  assert.is(w.lastSeen, 52_000);
  now = 52_000 + 3001;
  w = s.snapshot().workers[0]!;
  assert.is(w.status, 'lost');
  assert.is(w.tasksPerSec, 0);
  s.heartbeat(heartbeat({ sentAt: 56_000, tasks: 30, state: 'stopping' }));
  assert.is(s.snapshot().workers[0]!.status, 'stopping');
  now += 11 * 60_000;
  assert.is(s.snapshot().workers.length, 0, 'forgotten after 10 minutes of silence');
});

test('coordinator metrics: jobs by state, finished and submitted counters, tasks, retries, bytes, running-job gauges', async () => {
  const m = createCoordinatorMetrics();
  const o = m.observer;
  o.job!(record('old', { state: 'succeeded' })); // loaded at start: not "finished by this coordinator"
  o.started!({
    name: 'c',
    maxJobs: 1,
    nc: { stats: () => ({ inBytes: 10, outBytes: 20, inMsgs: 1, outMsgs: 1 }) } as never,
    log: () => undefined,
  });
  const r = record('j1');
  o.job!(r);
  r.state = 'running';
  r.iteration = 2;
  r.relLoss = 0.125;
  o.job!(r);
  for (let i = 0; i <= 2; i++)
    o.iteration!('j1', { start: 0, iteration: i, loss: 1, relLoss: 1, gradNorm: 1, seconds: 0 });
  o.task!({ jobId: 'j1', ok: true, ms: 20, bytesOut: 5, bytesIn: 7 });
  o.task!({ jobId: 'j1', ok: false, code: 'TIMEOUT', ms: 1000, bytesOut: 5, bytesIn: 0 });
  o.retry!({ jobId: 'j1', block: 0, attempt: 1, code: 'TIMEOUT' });
  let f = parseProm(await m.registry.metrics());
  assert.is(value(f, 'attnfit_jobs', { state: 'running' }), 1);
  assert.is(value(f, 'attnfit_jobs', { state: 'succeeded' }), 1);
  assert.is(value(f, 'attnfit_job_relative_loss', { job: 'j1' }), 0.125);
  assert.is(value(f, 'attnfit_job_iteration', { job: 'j1' }), 2);
  assert.is(value(f, 'attnfit_jobs_submitted_total'), 1);
  assert.is(value(f, 'attnfit_iterations_total'), 2);
  assert.is(value(f, 'attnfit_tasks_total', { outcome: 'ok' }), 1);
  assert.is(value(f, 'attnfit_tasks_total', { outcome: 'TIMEOUT' }), 1);
  assert.is(value(f, 'attnfit_task_duration_seconds_count'), 1);
  assert.is(value(f, 'attnfit_task_duration_seconds_bucket', { le: '0.025' }), 1);
  assert.is(value(f, 'attnfit_task_retries_total'), 1);
  assert.is(value(f, 'attnfit_task_bytes_total', { direction: 'out' }), 10);
  assert.is(value(f, 'attnfit_task_bytes_total', { direction: 'in' }), 7);
  assert.is(value(f, 'attnfit_nats_bytes_total', { direction: 'out' }), 20);
  assert.is(f.get('attnfit_gemm_backend_info')!.samples.length, 1);
  assert.is(f.get('attnfit_jobs')!.type, 'gauge');
  assert.is(f.get('attnfit_task_duration_seconds')!.type, 'histogram');
  r.state = 'succeeded';
  r.endedAt = 5;
  o.job!(r);
  f = parseProm(await m.registry.metrics());
  assert.is(value(f, 'attnfit_jobs_finished_total', { state: 'succeeded' }), 1);
  assert.is(value(f, 'attnfit_jobs', { state: 'succeeded' }), 2);
  assert.is(value(f, 'attnfit_job_relative_loss', { job: 'j1' }), undefined, 'gauges of finished jobs are removed');
});

test('worker metrics: tasks by outcome, latency, bytes, cache gauges', async () => {
  const m = createWorkerMetrics();
  m.observer.started!({
    name: 'w',
    threads: 3,
    nc: {} as never,
    stats: () => ({ tasks: 2, errors: 1, fetches: 1, cached: 1, inFlight: 0 }),
    log: () => undefined,
  });
  m.observer.task!({ jobId: 'j', ok: true, ms: 4, bytesIn: 11, bytesOut: 13 });
  m.observer.task!({ jobId: 'j', ok: false, code: 'PROTOCOL', ms: 1, bytesIn: 3, bytesOut: 2 });
  const f = parseProm(await m.registry.metrics());
  assert.is(value(f, 'attnfit_worker_tasks_total', { outcome: 'ok' }), 1);
  assert.is(value(f, 'attnfit_worker_tasks_total', { outcome: 'error' }), 1);
  assert.is(value(f, 'attnfit_worker_task_duration_seconds_count'), 2);
  assert.is(value(f, 'attnfit_worker_task_bytes_total', { direction: 'in' }), 14);
  assert.is(value(f, 'attnfit_worker_task_bytes_total', { direction: 'out' }), 15);
  assert.is(value(f, 'attnfit_worker_threads'), 3);
  assert.is(value(f, 'attnfit_worker_problems_cached'), 1);
});

test('--http addresses: loopback by default, HOST:PORT, [v6]:PORT; bad values name the option', () => {
  assert.equal(parseHttpAddress('8080'), { host: '127.0.0.1', port: 8080 });
  assert.equal(parseHttpAddress(':0'), { host: '127.0.0.1', port: 0 });
  assert.equal(parseHttpAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.equal(parseHttpAddress('[::1]:81'), { host: '::1', port: 81 });
  assert.equal(parseHttpAddress('localhost:81'), { host: 'localhost', port: 81 });
  for (const bad of ['', 'x', '70000', 'host:', 'a:b:1', 'http://x:1']) {
    assert.throws(
      () => parseHttpAddress(bad),
      (e: Error & { code?: string }) =>
        e.code === 'BAD_OPTION' && e.message.startsWith('--http: ') && e.message.includes(JSON.stringify(bad)),
    );
  }
  assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost'));
  assert.not.ok(isLoopbackHost('0.0.0.0'));
});

test('worker.heartbeat messages round-trip and are validated field by field', () => {
  const m = heartbeat({ tasks: 5 });
  assert.equal(decodeMessage(encode(m), 'worker.heartbeat'), m);
  assert.throws(
    () => decodeMessage(encode({ ...m, state: 'sleeping' })),
    /malformed worker.heartbeat message: state must be "up" or "stopping"/,
  );
  assert.throws(
    () => decodeMessage(encode({ ...m, threads: 0 })),
    /worker.heartbeat message: threads must be an integer >= 1/,
  );
  assert.throws(() => decodeMessage(encode({ ...m, name: '' })), /name must be a non-empty string/);
});

test.run();
