/**
 * End to end over a real nats-server using deploy/auth.conf (users + permissions): a coordinator
 * and two worker PROCESSES; a submitted warm-started problem gives X.npy bitwise identical to a
 * local `attnfit solve`; wrong credentials are refused (exit 2, AUTH); the worker user cannot
 * submit; SIGKILL of the only worker mid-job is survived once another worker joins.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, writeNpy } from '@attnfit/shared/io';
import { ClusterClient, SOLVE_DEFAULTS, createOracle, solve, type SolveOptions } from '@attnfit/coordinator';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randn, randMatrix } from '../helpers/rng.js';
import {
  PASSWORDS,
  SERVER_ENV,
  includeAuth,
  run,
  startCoordinatorProc,
  startWorkerProc,
  stopAll,
  type CliProc,
} from './procs.js';

let server: NatsServerHandle;
let work: string;
let coord: CliProc | undefined;
const workers: CliProc[] = [];
let url = '';
const asUser = (u: keyof typeof PASSWORDS) => ['--nats', url, '--user', u, '--pass', PASSWORDS[u]];

test.before(async () => {
  for (const [k, v] of Object.entries(SERVER_ENV)) process.env[k] = v; // the server reads passwords from its env
  server = await startNatsServer({
    rawConfig: ({ port, dir }) =>
      `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n${includeAuth(dir)}\n`,
  });
  url = server.url;
  work = mkdtempSync(join(tmpdir(), 'attnfit-e2e-'));
  const gen = await run(['generate', '--n', '128', '--d', '4', '--seed', '11', '--out', join(work, 'p')]);
  assert.is(gen.code, 0, gen.out);
  const Xt = await readNpy(join(work, 'p', 'X_true.npy'));
  const r = rng(5);
  const x0 = Xt.data.map((v) => v + 0.05 * randn(r));
  await writeNpy(join(work, 'x0.npy'), x0, [4, 4]);
  coord = await startCoordinatorProc([...asUser('coordinator'), '--task-timeout-ms', '1500', '--max-attempts', '40']);
  workers.push(await startWorkerProc(asUser('worker')));
  workers.push(
    await startWorkerProc(['--nats', url], { ATTNFIT_NATS_USER: 'worker', ATTNFIT_NATS_PASS: PASSWORDS.worker }),
  );
});

test.after(async () => {
  await stopAll([...workers, coord]);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('submit --wait over two worker processes: X.npy and Y.npy bitwise identical to local solve', async () => {
  const opts = ['--x0', join(work, 'x0.npy'), '--method', 'newton'];
  const sub = await run([
    'submit',
    join(work, 'p'),
    ...asUser('submitter'),
    ...opts,
    '--wait',
    '--out',
    join(work, 'cluster'),
  ]);
  assert.is(sub.code, 0, sub.out);
  assert.match(sub.stdout, /^[A-Za-z0-9_-]+\n$/);
  assert.match(sub.out, /iter 1 loss/);
  const local = await run(['solve', join(work, 'p'), ...opts, '--out', join(work, 'local')]);
  assert.is(local.code, 0, local.out);
  for (const f of ['X.npy', 'Y.npy'])
    assert.ok(readFileSync(join(work, 'cluster', f)).equals(readFileSync(join(work, 'local', f))), `${f} differs`);
  const rc = JSON.parse(readFileSync(join(work, 'cluster', 'report.json'), 'utf8')) as {
    relLoss: number;
    oracle: string;
    converged: boolean;
    cluster: { workers: string[] };
    shards: number;
    traffic: { bytesSent: number; bytesReceived: number };
    history: Array<{ bytesSent?: number; bytesReceived?: number }>;
  };
  const rl = JSON.parse(readFileSync(join(work, 'local', 'report.json'), 'utf8')) as {
    relLoss: number;
    iterations: number;
    traffic?: unknown;
    shards: number;
  };
  // Network bytes: per iteration in the history and in total (cluster only); the same plan.
  assert.is(rc.shards, rl.shards);
  assert.is(rl.traffic, undefined);
  assert.ok(rc.traffic.bytesSent > 0 && rc.traffic.bytesReceived > 0, JSON.stringify(rc.traffic));
  assert.ok(rc.history.length > 1 && rc.history.every((h) => h.bytesReceived! > 0 && h.bytesSent! > 0));
  const sum = rc.history.reduce((a, h) => a + h.bytesReceived!, 0);
  assert.ok(sum <= rc.traffic.bytesReceived, `${sum} > ${rc.traffic.bytesReceived}`);
  assert.is(rc.relLoss, rl.relLoss);
  assert.ok(rc.relLoss < 1e-12);
  assert.is(rc.oracle, 'nats');
  assert.ok(rc.cluster.workers.length >= 1);
  // status / jobs / result work for the submitter after the job ended.
  const id = sub.stdout.trim();
  const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
  const st = await run(['status', id, '--json', ...asUser('submitter')]);
  assert.is(st.code, 0, st.out);
  const rec = JSON.parse(st.stdout) as {
    state: string;
    submittedAt: string;
    endedAt: string;
    options: { x0: number[] };
  };
  assert.is(rec.state, 'succeeded');
  assert.match(rec.submittedAt, ISO);
  assert.match(rec.endedAt, ISO);
  assert.is(rec.options.x0.length, 16);
  assert.match(st.stdout, /"x0": \[[^\n\]]+\]/, 'x0 on one line');
  const human = await run(['status', id, ...asUser('submitter')]);
  assert.is(human.code, 0, human.out);
  assert.match(human.stdout, /^state +succeeded — converged$/m);
  assert.match(human.stdout, /^options +method=newton x0=4×4$/m);
  assert.match(human.stdout, /^submitted +\d{4}-\d\d-\d\dT[\d:.]+Z$/m);
  const jobs = await run(['jobs', ...asUser('submitter')]);
  assert.match(jobs.stdout, new RegExp(`${id}\\s+succeeded .* \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z`));
  const jobsJson = await run(['jobs', '--json', ...asUser('submitter')]);
  assert.match((JSON.parse(jobsJson.stdout) as Array<{ submittedAt: string }>)[0]!.submittedAt, ISO);
  const cancelDone = await run(['cancel', id, ...asUser('submitter')]);
  assert.is(cancelDone.code, 0, cancelDone.out);
  assert.is(cancelDone.stdout.trim(), `${id} succeeded`);
  const res = await run(['result', id, ...asUser('submitter'), '--out', join(work, 'again')]);
  assert.is(res.code, 0, res.out);
  assert.ok(readFileSync(join(work, 'again', 'X.npy')).equals(readFileSync(join(work, 'local', 'X.npy'))));
});

test('wrong credentials are refused with exit 2 and code AUTH; unknown jobs are NOT_FOUND', async () => {
  const bad = await run(['jobs', '--nats', url, '--user', 'submitter', '--pass', 'not-the-password']);
  assert.is(bad.code, 2, bad.out);
  assert.match(bad.out, /attnfit: error \[AUTH\]: .*credentials refused for user "submitter"/);
  const none = await run(['status', 'no-such-job', ...asUser('submitter')]);
  assert.is(none.code, 2);
  assert.match(none.out, /\[NOT_FOUND\]: job "no-such-job"/);
  const noCreds = await run(['jobs', '--nats', url, '--creds', join(work, 'missing.creds')]);
  assert.is(noCreds.code, 2);
  assert.match(noCreds.out, /\[FILE_NOT_FOUND\]: --creds: cannot read/);
  const noUrl = await run(['jobs']);
  assert.is(noUrl.code, 2);
  assert.match(noUrl.out, /\[USAGE\]: --nats/);
});

test('the worker user cannot submit jobs (AUTH, exit 2), nor can the submitter serve tasks', async () => {
  const r = await run(['submit', join(work, 'p'), ...asUser('worker')]);
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /attnfit: error \[AUTH\]: .*(permission|Permissions Violation)/i);
  const w = await run(['worker', ...asUser('submitter'), '--threads', '1']);
  assert.is(w.code, 2, w.out);
  assert.match(w.out, /\[AUTH\]/);
});

test('SIGKILL of the only worker mid-job: tasks are retried and the job succeeds on a new worker, bitwise equal to local', async () => {
  // Keep one worker: stop the second gracefully (drain), so the job depends on the one we kill.
  const second = workers.pop()!;
  second.kill('SIGTERM');
  assert.is(await second.exit, 0);
  const client = await ClusterClient.connect({ servers: url, user: 'submitter', pass: PASSWORDS.submitter });
  try {
    // A random (not planted) problem: lbfgs runs all 60 iterations (no zero-residual fit), so
    // the kill at iteration 1 is well inside the job.
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
    const options = { method: 'lbfgs', maxIter: 60, tol: 1e-300, gtol: 0, x0: randMatrix(r, d, d, 0.5) };
    const { jobId } = await client.submit(p, options, 'kill-test');
    let killed = false;
    let resolveKilled!: () => void;
    const killedP = new Promise<void>((r) => {
      resolveKilled = r;
    });
    const done = client.waitFor(jobId, {
      mustExist: false,
      timeoutMs: 120_000,
      onProgress: (p) => {
        if (!killed && p.iteration >= 1) {
          killed = true;
          workers[0]!.kill('SIGKILL');
          resolveKilled();
        }
      },
    });
    await killedP;
    await workers[0]!.exit;
    workers.shift();
    assert.is((await client.status(jobId)).state, 'running');
    workers.push(await startWorkerProc(asUser('worker')));
    const rec = await done;
    assert.is(rec.state, 'succeeded', JSON.stringify(rec.error));
    const res = await client.result(jobId);
    // The lost blocks were sent again: retried after a timeout, or hedged (overdue vs. peers).
    const cl = res.report.cluster as { retries: number; hedges: number };
    assert.ok(cl.retries + cl.hedges >= 1, `retries ${cl.retries}, hedges ${cl.hedges}`);
    assert.is(res.report.iterations, 60);
    // Bitwise the local solve (same GEMM backend: procs.ts loads the native one here too).
    const local = await createOracle(p, { threads: 0 });
    const ref = await solve(local, { ...SOLVE_DEFAULTS, ...options } as SolveOptions);
    await local.close();
    for (let i = 0; i < d * d; i++) {
      assert.ok(Object.is(res.X[i], ref.X[i]), `X[${i}]: ${res.X[i]} vs ${ref.X[i]}`);
      assert.ok(Object.is(res.Y[i], ref.Y[i]), `Y[${i}]: ${res.Y[i]} vs ${ref.Y[i]}`);
    }
  } finally {
    await client.close();
  }
});

test.run();
