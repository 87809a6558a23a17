/**
 * Fault injection, server and coordinator side (real processes, one real nats-server with a file
 * store on loopback for the whole file). Each job (Adam, 30 iterations, n = 1024, d = 4, two
 * one-thread workers) is hit at iteration 5 and must end with X.npy / Y.npy bitwise equal to
 * `attnfit solve` run locally:
 * - nats-server SIGKILLed and restarted on the same port with the same store dir (down ~1 s):
 *   every client (coordinator, workers, the waiting submitter) reconnects and the job completes;
 * - the coordinator SIGKILLed and a new one started: it resumes the job from its last checkpoint
 *   (resumedFrom in the report) and finishes bit for bit (test/src/cluster/resume.slow.test.ts
 *   holds the SIGTERM case and cancellation);
 * - the coordinator SIGSTOPped past its lease TTL: a new one takes the lease over and resumes the
 *   job; the old one, woken by SIGCONT, finds its lease taken and exits 1 without touching the result;
 * - a second coordinator while one holds the lease is refused (exit 1, `[CONFLICT]` naming the
 *   holder) and the running job is untouched; once the first stops cleanly a new one starts at once;
 * - data loss (the job's problem deleted from the Object Store, the workers that cached it killed):
 *   the job fails with NOT_FOUND naming the object, and `attnfit status` shows it — no hang, no
 *   success with a wrong result.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { DATA_BUCKET, JOBS_BUCKET, decodeMessage, problemObjectName } from '@attnfit/shared/protocol';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { cli, run, startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from '../cluster/procs.js';
import { assertBitwise, problemWithLocalSolve, submitUntilIter } from './common.js';

let server: NatsServerHandle;
let work: string;
let problem: string;
let local: string;
const procs: CliProc[] = [];

test.before(async () => {
  server = await startNatsServer();
  work = mkdtempSync(join(tmpdir(), 'attnfit-faults-s-'));
  ({ problem, local } = await problemWithLocalSolve(work));
  procs.push(await startWorkerProc(['--nats', server.url]), await startWorkerProc(['--nats', server.url]));
});

test.after(async () => {
  await stopAll(procs);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The running coordinator, started when none is. */
async function coordinator(): Promise<CliProc> {
  const live = procs.find((p) => p.proc.exitCode === null && p.proc.signalCode === null && /coordinator/.test(p.out()));
  if (live) return live;
  const c = await startCoordinatorProc(['--nats', server.url]);
  procs.push(c);
  return c;
}

test('nats-server SIGKILLed mid-job and restarted with the same store: clients reconnect; bitwise equal', async () => {
  const c = await coordinator();
  const out = join(work, 'restart');
  const job = await submitUntilIter(server.url, problem, out, procs);
  await server.restart({ signal: 'SIGKILL', downMs: 1000 });
  const code = await job.done;
  assert.is(code, 0, `${job.submit.out()}\ncoordinator:\n${c.out()}\nserver:\n${server.log()}`);
  assertBitwise(out, local, 'server restart');
  // Every service is still up after the restart.
  for (const p of procs.filter((p) => p !== job.submit)) assert.is(p.proc.exitCode, null, p.out());
});

test('coordinator SIGKILLed mid-job, a new one started: resumes from the checkpoint; bitwise equal', async () => {
  const c = await coordinator();
  const out = join(work, 'coord-kill');
  const job = await submitUntilIter(server.url, problem, out, procs);
  c.kill('SIGKILL');
  await c.exit;
  const next = await startCoordinatorProc(['--nats', server.url]);
  procs.push(next);
  // The dead coordinator's lease is taken over once it has gone unrenewed for its TTL.
  assert.match(next.out(), /the lease of attnfit-coordinator-\S+ expired .*taken over/);
  const code = await job.done;
  assert.is(code, 0, `${job.submit.out()}\ncoordinator:\n${next.out()}`);
  assertBitwise(out, local, 'coordinator kill');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.is(report.cluster.resumedFrom.length, 1, JSON.stringify(report.cluster));
  assert.ok(report.cluster.resumedFrom[0] >= 5, JSON.stringify(report.cluster));
});

test('a second coordinator is refused while the first holds the lease; the job is untouched; after a clean stop a new one starts at once', async () => {
  const c = await coordinator();
  const out = join(work, 'two');
  const job = await submitUntilIter(server.url, problem, out, procs);
  const second = await run(['coordinator', '--nats', server.url], {}, 60_000);
  assert.is(second.code, 1, second.out);
  assert.match(second.out, /attnfit: error \[CONFLICT\]: .*another coordinator .*attnfit-coordinator-/);
  assert.not.match(second.out, /recovering|ready/);
  const code = await job.done;
  assert.is(code, 0, `${job.submit.out()}\ncoordinator:\n${c.out()}`);
  assertBitwise(out, local, 'two coordinators');
  // A clean stop releases the lease: the next coordinator does not wait for it to expire.
  await stopAll([c]);
  const t0 = Date.now();
  const next = cli(['coordinator', '--nats', server.url]);
  procs.push(next);
  await next.line(/attnfit coordinator .*: ready/, 60_000);
  assert.not.match(next.out(), /waiting/, next.out());
  process.stdout.write(`coordinator after a clean stop: ready in ${Date.now() - t0} ms\n`);
});

test('coordinator SIGSTOPped mid-job past its lease: a new one takes over and resumes; the old one wakes, sees the lease lost and exits 1; bitwise equal', async () => {
  const old = await coordinator();
  const out = join(work, 'coord-stop');
  const job = await submitUntilIter(server.url, problem, out, procs);
  old.kill('SIGSTOP');
  // The newcomer waits for the lease to go unrenewed for its TTL (5 s), then takes it over.
  const next = await startCoordinatorProc(['--nats', server.url]);
  procs.push(next);
  assert.match(next.out(), /the lease of attnfit-coordinator-\S+ expired .*taken over/);
  await next.line(/job \S+ running \(resumed from iteration \d+\)/, 60_000);
  old.kill('SIGCONT');
  const t = setTimeout(() => old.kill('SIGKILL'), 60_000);
  const oldCode = await old.exit;
  clearTimeout(t);
  assert.is(oldCode, 1, old.out());
  assert.match(old.out(), /the cluster lease was taken over by attnfit-coordinator-/);
  const code = await job.done;
  assert.is(code, 0, `${job.submit.out()}\ncoordinator:\n${next.out()}`);
  assertBitwise(out, local, 'coordinator frozen');
});

test('data loss: the problem deleted from the Object Store mid-job and only fresh workers left — the job fails clearly (NOT_FOUND), status says why', async () => {
  const c = await coordinator();
  const out = join(work, 'lost-data');
  const job = await submitUntilIter(server.url, problem, out, procs);
  const jobId = /^(\S+)$/m.exec(job.submit.stdout())?.[1];
  assert.ok(jobId, job.submit.out());
  const nc = await connect({ servers: server.url });
  try {
    const rec = (await new Kvm(nc).open(JOBS_BUCKET).then((kv) => kv.get(`job.${jobId}`)))!;
    const hash = decodeMessage(rec.value, 'job').problem.hash;
    await (await new Objm(nc).open(DATA_BUCKET)).delete(problemObjectName(hash));
  } finally {
    await nc.close();
  }
  // The workers that cached the problem die; a fresh one cannot fetch it.
  const cached = procs.filter((p) => /attnfit worker .*: ready/.test(p.out()) && p.proc.exitCode === null);
  for (const w of cached) w.kill('SIGKILL');
  await Promise.all(cached.map((w) => w.exit));
  procs.push(await startWorkerProc(['--nats', server.url]));
  const code = await job.done;
  assert.ok(code !== 0, `the job must not succeed: ${job.submit.out()}`);
  assert.match(job.submit.out(), /attnfit: error \[NOT_FOUND\]: .*problem-[0-9a-f]{64}/);
  const status = await run(['status', jobId!, '--nats', server.url, '--json']);
  assert.is(status.code, 0, status.out);
  const st = JSON.parse(status.stdout);
  assert.is(st.state, 'failed');
  assert.is(st.error.code, 'NOT_FOUND');
  assert.match(st.error.message, /problem-[0-9a-f]{64}: not in (the )?object store/);
  assert.match(c.out(), new RegExp(`job ${jobId} failed: \\[NOT_FOUND\\]`));
  const res = await run(['result', jobId!, '--nats', server.url, '--out', join(work, 'lost-result')]);
  assert.ok(res.code !== 0, res.out);
});

test.run();
