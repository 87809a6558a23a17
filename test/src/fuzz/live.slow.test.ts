/**
 * Live flood: a real nats-server, a coordinator, a worker and a dynamic-session server as
 * processes. 10 000 malformed messages (from the same hostile generators as the codec
 * properties) go to each of: the worker's subjects (task requests, job.done), the coordinator's
 * job stream (submit, cancel), and the dynamic service (open requests and an open session's op
 * subjects). Then: every request got a reply, every process is still up, the next real job's
 * X.npy / Y.npy are bitwise those of a local `attnfit solve`, and the flooded session still
 * answers exactly like a local structure.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { CANCEL_SUBJECT, JOB_DONE_SUBJECT, SUBMIT_SUBJECT, TASK_SUBJECT } from '@attnfit/shared/protocol';
import { DynamicAttention } from '@attnfit/shared/dynamic';
import { readNpy, writeNpy } from '@attnfit/shared/io';
import { openNatsDynamicSession } from '@attnfit/coordinator';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { randMatrix, randn, rng } from '../helpers/rng.js';
import { cli, run, startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from '../cluster/procs.js';
import { wireBytes } from './arbitraries.js';

/** Malformed messages per target (worker, coordinator, dynamic service). */
const FLOOD = 10_000;
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20_261_130;

let server: NatsServerHandle;
let nc: NatsConnection;
let work = '';
const procs: CliProc[] = [];

test.before(async () => {
  server = await startNatsServer({
    rawConfig: ({ port, dir }) => `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n`,
  });
  work = mkdtempSync(join(tmpdir(), 'attnfit-flood-'));
  procs.push(await startCoordinatorProc(['--nats', server.url, '--task-timeout-ms', '20000']));
  procs.push(await startWorkerProc(['--nats', server.url]));
  const dyn = cli(['dynamic', 'serve', '--nats', server.url]);
  procs.push(dyn);
  await dyn.line(/serving sessions/);
  nc = await connect({ servers: server.url });
});

test.after(async () => {
  await nc?.close();
  await stopAll(procs);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Publish `msgs` as requests to subject(k) with replies to one inbox; resolve with the reply count once all came back. */
async function floodRequests(msgs: Uint8Array[], subject: (k: number) => string, timeoutMs = 120_000): Promise<number> {
  const inbox = createInbox();
  let replies = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (err) => {
      if (!err && ++replies === msgs.length) done();
    },
  });
  for (let k = 0; k < msgs.length; k++) {
    nc.publish(subject(k), msgs[k]!, { reply: `${inbox}.${k}` });
    if (k % 500 === 499) await nc.flush();
  }
  await nc.flush();
  const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
  await Promise.race([all, timer]);
  sub.unsubscribe();
  return replies;
}

function alive(): void {
  for (const p of procs) assert.is(p.proc.exitCode, null, `a process exited:\n${p.out().slice(-3000)}`);
}

test(`${FLOOD} malformed messages each to the worker, the coordinator and the dynamic service; all stay up`, async () => {
  const msgs = fc.sample(wireBytes, { numRuns: FLOOD, seed: SEED });
  // Worker: task requests (every one is answered) and job.done announcements.
  const taskMsgs = msgs.slice(0, FLOOD - 1000);
  const answered = await floodRequests(taskMsgs, () => TASK_SUBJECT);
  assert.is(answered, taskMsgs.length, 'every task request got a reply');
  for (const m of msgs.slice(FLOOD - 1000)) nc.publish(JOB_DONE_SUBJECT, m);
  // Coordinator: the job stream (it consumes, logs and drops each).
  const js = msgs.map((m, k) => [k % 2 ? CANCEL_SUBJECT : SUBMIT_SUBJECT, m] as const);
  for (let k = 0; k < js.length; k++) {
    nc.publish(js[k]![0], js[k]![1]);
    if (k % 500 === 499) await nc.flush();
  }
  await nc.flush();
  // Dynamic service: open requests, then an open session's op subjects (close excepted).
  const openAnswered = await floodRequests(msgs.slice(0, FLOOD / 2), () => 'attnfit.dyn.open');
  assert.is(openAnswered, FLOOD / 2, 'every open request got a reply');
  const r = rng(3),
    n = 6,
    d = 2;
  const Q = randMatrix(r, n, d),
    K = randMatrix(r, n, d),
    V = randMatrix(r, n, d);
  const s = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: 0.5 });
  const ops = ['update', 'query', 'queryRow', 'stats', 'rebuild', 'apply', 'load', 'init'];
  const opAnswered = await floodRequests(msgs.slice(FLOOD / 2), (k) => `attnfit.dyn.${s.id}.${ops[k % ops.length]}`);
  assert.is(opAnswered, FLOOD / 2, 'every session request got a reply');
  alive();
  // The flooded session still answers exactly like a local structure given the same real ops.
  const local = DynamicAttention.init(Q.slice(), K.slice(), V.slice(), n, d, { tau: 0.5 });
  await s.updateK(1, 0, 0.75);
  local.updateK(1, 0, 0.75);
  await s.updateV(4, 1, -2);
  local.updateV(4, 1, -2);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) assert.ok(Object.is(await s.query(i, j), local.query(i, j)), `query(${i}, ${j})`);
  await s.close();
  alive();
});

test('after the flood the next real job is bitwise equal to a local solve', async () => {
  const gen = await run(['generate', '--n', '64', '--d', '3', '--seed', '4', '--out', join(work, 'p')]);
  assert.is(gen.code, 0, gen.out);
  const Xt = await readNpy(join(work, 'p', 'X_true.npy'));
  const r = rng(9);
  await writeNpy(
    join(work, 'x0.npy'),
    Xt.data.map((v) => v + 0.05 * randn(r)),
    [3, 3],
  );
  const opts = ['--x0', join(work, 'x0.npy'), '--method', 'newton'];
  const sub = await run(
    ['submit', join(work, 'p'), '--nats', server.url, ...opts, '--wait', '--out', join(work, 'cluster')],
    {},
    240_000,
  );
  assert.is(sub.code, 0, sub.out);
  const local = await run(['solve', join(work, 'p'), ...opts, '--out', join(work, 'local')]);
  assert.is(local.code, 0, local.out);
  for (const f of ['X.npy', 'Y.npy'])
    assert.ok(readFileSync(join(work, 'cluster', f)).equals(readFileSync(join(work, 'local', f))), `${f} differs`);
  // The job ran after the coordinator had consumed the flooded stream (it logs each dropped message).
  const drops = procs[0]!
    .out()
    .split('\n')
    .filter((l) => /dropping stream message/.test(l)).length;
  assert.ok(drops >= FLOOD / 2, `coordinator dropped ${drops} flooded stream messages`);
  alive();
});

test.run();
