/**
 * Fast failure detection: a job that loses a worker mid-run finishes bitwise equal to the local
 * solve without waiting for the task timeout. The coordinator runs with a 600 s task timeout, so
 * a job that finishes at all (each wait here is bounded far below 600 s) proves that the lost
 * or frozen worker's blocks were re-dispatched early (hedged: overdue relative to their peers),
 * not retried after the timeout.
 * Fault: SIGKILL one of two workers once the job is running (iteration 5).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { cli, run, startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from './procs.js';

let server: NatsServerHandle;
let work: string;
let problem: string;
let coordinator: CliProc;
const procs: CliProc[] = [];
/** Same options for the local solve and the submitted job: a fixed number of Adam iterations. */
const SOLVE = [
  '--no-search',
  '--starts',
  '1',
  '--method',
  'adam',
  '--max-iter',
  '40',
  '--tol',
  '1e-300',
  '--gtol',
  '0',
];

test.before(async () => {
  server = await startNatsServer();
  work = mkdtempSync(join(tmpdir(), 'attnfit-wloss-'));
  problem = join(work, 'p');
  const g = await run(['generate', '--n', '2048', '--d', '4', '--seed', '7', '--out', problem]);
  assert.is(g.code, 0, g.out);
  const local = await run(['solve', problem, ...SOLVE, '--threads', '1', '--out', join(work, 'local')]);
  assert.is(local.code, 0, local.out);
  coordinator = await startCoordinatorProc(['--nats', server.url, '--task-timeout-ms', '600000']);
  procs.push(coordinator);
});

test.after(async () => {
  await stopAll(procs);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Submit the job, apply `fault` to one of two fresh workers once it is running, await the result. */
async function jobWithFault(label: string, fault: (w: CliProc) => void): Promise<void> {
  const workers = [await startWorkerProc(['--nats', server.url]), await startWorkerProc(['--nats', server.url])];
  procs.push(...workers);
  const out = join(work, label);
  const submit = cli(['submit', problem, '--nats', server.url, ...SOLVE, '--wait', '--out', out]);
  procs.push(submit);
  await submit.line(/iter +5 /, 120_000);
  fault(workers[0]!);
  const watchdog = setTimeout(() => submit.kill('SIGKILL'), 240_000);
  const code = await submit.exit;
  clearTimeout(watchdog);
  assert.is(code, 0, `${label}: ${submit.out()}\ncoordinator:\n${coordinator.out()}`);
  for (const f of ['X.npy', 'Y.npy']) {
    assert.ok(
      readFileSync(join(out, f)).equals(readFileSync(join(work, 'local', f))),
      `${label}: ${f} differs from the local solve`,
    );
  }
}

test('SIGKILL one of two workers mid-job: the job completes bitwise equal to the local solve (task timeout 600 s)', async () => {
  await jobWithFault('killed', (w) => w.kill('SIGKILL'));
});

test.run();
