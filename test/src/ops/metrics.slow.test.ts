/**
 * /metrics over a real cluster (deploy/auth.conf users): a coordinator and a worker with --http,
 * one job that succeeds and one that is cancelled while running. The Prometheus text of both
 * processes parses, and its counters match the jobs: tasks and retries equal the job report's,
 * bytes sent by one side equal bytes received by the other, iterations equal the reports', jobs
 * by state, running-job gauges. Also: the worker table from heartbeats (permissions allow them),
 * the history API, read-only HTTP (405/404), and bad --http values (exit 2).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterClient } from '@attnfit/coordinator';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';
import { scrape, sum, value } from '../helpers/prom.js';
import {
  PASSWORDS,
  SERVER_ENV,
  includeAuth,
  run,
  startCoordinatorProc,
  startWorkerProc,
  stopAll,
  type CliProc,
} from '../cluster/procs.js';
import { waitForState } from './sse.js';

let server: NatsServerHandle;
let work: string;
let coord: CliProc | undefined;
let worker: CliProc | undefined;
let url = '';
let dash = '';
let wmetrics = '';
const asUser = (u: keyof typeof PASSWORDS) => ['--nats', url, '--user', u, '--pass', PASSWORDS[u]];

interface Report {
  iterations: number;
  relLoss: number;
  history: Array<{ relLoss: number }>;
  cluster: { tasks: number; retries: number; jobId: string };
}
let reportA: Report;

test.before(async () => {
  for (const [k, v] of Object.entries(SERVER_ENV)) process.env[k] = v;
  server = await startNatsServer({
    rawConfig: ({ port, dir }) =>
      `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n${includeAuth(dir)}\n`,
  });
  url = server.url;
  work = mkdtempSync(join(tmpdir(), 'attnfit-metrics-'));
  const gen = await run([
    'generate',
    '--n',
    '256',
    '--d',
    '4',
    '--seed',
    '21',
    '--warm-noise',
    '0.05',
    '--out',
    join(work, 'p'),
  ]);
  assert.is(gen.code, 0, gen.out);
  coord = await startCoordinatorProc([...asUser('coordinator'), '--http', '127.0.0.1:0']);
  dash = /dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(coord.out())![1]!;
  worker = await startWorkerProc([...asUser('worker'), '--http', '127.0.0.1:0', '--heartbeat-ms', '300']);
  wmetrics = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(await worker.line(/metrics on http/))![1]!;
});

test.after(async () => {
  await stopAll([worker, coord]);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the worker table fills from heartbeats under deploy/auth.conf permissions', async () => {
  const s = await waitForState(dash, (x) => x.workers.some((w) => w.status === 'up'));
  assert.ok(s.coordinator.heartbeats);
  const w = s.workers[0]!;
  assert.is(w.threads, 1);
  assert.ok(w.gemm.length > 0 && w.host.length > 0 && w.pid > 0);
  assert.not.match(coord!.out(), /cannot hear worker heartbeats/);
});

test('a succeeded job: coordinator and worker counters match its report', async () => {
  const out = join(work, 'fitA');
  const sub = await run([
    'submit',
    join(work, 'p'),
    ...asUser('submitter'),
    '--x0',
    join(work, 'p', 'X_warm.npy'),
    '--method',
    'newton',
    '--wait',
    '--out',
    out,
  ]);
  assert.is(sub.code, 0, sub.out);
  reportA = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
  const c = await scrape(`${dash}/metrics`);
  const w = await scrape(wmetrics);
  const tasks = reportA.cluster.tasks;
  assert.ok(tasks > 0);
  assert.is(value(c, 'attnfit_jobs', { state: 'succeeded' }), 1);
  assert.is(value(c, 'attnfit_jobs', { state: 'running' }), 0);
  assert.is(value(c, 'attnfit_jobs_finished_total', { state: 'succeeded' }), 1);
  assert.is(value(c, 'attnfit_jobs_submitted_total'), 1);
  assert.is(value(c, 'attnfit_tasks_total', { outcome: 'ok' }), tasks);
  assert.is(sum(c, 'attnfit_tasks_total'), tasks, 'no failed attempts');
  assert.is(value(c, 'attnfit_task_retries_total'), reportA.cluster.retries);
  assert.is(value(c, 'attnfit_task_duration_seconds_count'), tasks);
  assert.is(value(c, 'attnfit_task_duration_seconds_bucket', { le: '+Inf' }), tasks);
  assert.is(value(c, 'attnfit_iterations_total'), reportA.iterations);
  assert.is(value(c, 'attnfit_workers'), 1);
  assert.ok((value(c, 'attnfit_nats_bytes_total', { direction: 'out' }) ?? 0) > 0);
  assert.is(c.get('attnfit_gemm_backend_info')!.samples.length, 1);
  // The worker answered every task; bytes one side sent are the bytes the other received.
  assert.is(value(w, 'attnfit_worker_tasks_total', { outcome: 'ok' }), tasks);
  assert.is(value(w, 'attnfit_worker_tasks_total', { outcome: 'error' }), 0);
  assert.is(value(w, 'attnfit_worker_task_duration_seconds_count'), tasks);
  assert.is(
    value(w, 'attnfit_worker_task_bytes_total', { direction: 'in' }),
    value(c, 'attnfit_task_bytes_total', { direction: 'out' }),
  );
  assert.is(
    value(w, 'attnfit_worker_task_bytes_total', { direction: 'out' }),
    value(c, 'attnfit_task_bytes_total', { direction: 'in' }),
  );
  assert.is(value(w, 'attnfit_worker_threads'), 1);
  assert.is(value(w, 'attnfit_worker_problem_fetches'), 1);
  assert.is(w.get('attnfit_gemm_backend_info')!.samples.length, 1);
  // The loss history the dashboard plots is the report's.
  const h = (await (await fetch(`${dash}/api/jobs/${reportA.cluster.jobId}/history`)).json()) as {
    points: Array<{ relLoss: number; iteration: number }>;
  };
  assert.equal(
    h.points.map((p) => p.relLoss),
    reportA.history.map((p) => p.relLoss),
  );
  assert.is(h.points[h.points.length - 1]!.relLoss, reportA.relLoss);
});

test('a running job has loss and iteration gauges; cancelled, it is counted and its gauges go', async () => {
  const client = await ClusterClient.connect({ servers: url, user: 'submitter', pass: PASSWORDS.submitter });
  try {
    const r = rng(3);
    const n = 64,
      d = 3;
    const p = {
      n,
      d,
      A1: randMatrix(r, n, d),
      A2: randMatrix(r, n, d),
      A3: randMatrix(r, n, d),
      B: randMatrix(r, n, d),
    };
    const { jobId } = await client.submit(
      p,
      { method: 'lbfgs', maxIter: 100_000, tol: 1e-300, gtol: 0, x0: randMatrix(r, d, d, 0.5) },
      'to-cancel',
    );
    let reached!: () => void;
    const atTwo = new Promise<void>((res) => {
      reached = res;
    });
    const done = client.waitFor(jobId, {
      mustExist: false,
      timeoutMs: 120_000,
      onProgress: (m) => {
        if (m.iteration >= 2) reached();
      },
    });
    await atTwo;
    const mid = await scrape(`${dash}/metrics`);
    assert.is(value(mid, 'attnfit_jobs', { state: 'running' }), 1);
    const rel = value(mid, 'attnfit_job_relative_loss', { job: jobId });
    assert.ok(rel !== undefined && rel > 0 && rel < 10, `relative loss gauge ${rel}`);
    assert.ok((value(mid, 'attnfit_job_iteration', { job: jobId }) ?? 0) >= 2);
    const rec = await client.cancel(jobId, 60_000);
    assert.is(rec!.state, 'cancelled');
    await done;
    const c = await scrape(`${dash}/metrics`);
    assert.is(value(c, 'attnfit_jobs', { state: 'cancelled' }), 1);
    assert.is(value(c, 'attnfit_jobs', { state: 'succeeded' }), 1);
    assert.is(value(c, 'attnfit_jobs', { state: 'running' }), 0);
    assert.is(value(c, 'attnfit_jobs_finished_total', { state: 'cancelled' }), 1);
    assert.is(value(c, 'attnfit_jobs_submitted_total'), 2);
    assert.is(value(c, 'attnfit_job_relative_loss', { job: jobId }), undefined);
    assert.is(value(c, 'attnfit_iterations_total'), reportA.iterations + rec!.iteration);
    const w = await scrape(wmetrics);
    assert.ok(
      (value(w, 'attnfit_worker_tasks_total', { outcome: 'ok' }) ?? 0) >=
        (value(c, 'attnfit_tasks_total', { outcome: 'ok' }) ?? Infinity),
    );
    const s = await waitForState(dash, (x) => x.jobs.some((j) => j.id === jobId && j.state === 'cancelled'));
    assert.is(s.jobs.length, 2);
  } finally {
    await client.close();
  }
});

test('HTTP is read-only; unknown paths are 404; bad or busy --http addresses exit 2 naming --http', async () => {
  assert.is((await fetch(`${dash}/metrics`, { method: 'POST' })).status, 405);
  assert.is((await fetch(`${dash}/nope`)).status, 404);
  assert.is((await fetch(`${dash}/api/jobs/unknown-job/history`)).status, 404);
  const page = await fetch(`${dash}/`);
  assert.is(page.status, 200);
  assert.match(await page.text(), /<title>attnfit cluster<\/title>/);
  assert.is((await fetch(`${dash}/vendor/uplot.js`)).status, 200);
  const bad = await run(['coordinator', ...asUser('coordinator'), '--http', 'not-an-address']);
  assert.is(bad.code, 2, bad.out);
  assert.match(bad.out, /attnfit: error \[BAD_OPTION\]: --http: expected PORT or HOST:PORT .*"not-an-address"/);
  const port = new URL(dash).port;
  const busy = await run(['worker', ...asUser('worker'), '--http', `127.0.0.1:${port}`]);
  assert.is(busy.code, 2, busy.out);
  assert.match(
    busy.out,
    new RegExp(`\\[BAD_OPTION\\]: --http: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`),
  );
});

test.run();
