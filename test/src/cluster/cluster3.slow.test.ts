/**
 * A 3-server NATS cluster (routes on loopback, JetStream on each, deploy/auth.conf users): the
 * coordinator on server 1, one worker on server 2 and one on server 3, the submitter on server 3.
 * The job succeeds and its X.npy is bitwise identical to a local solve.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/nats-server.js';
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
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

let dir: string;
const servers: ChildProcess[] = [];
const procs: CliProc[] = [];
const urls: string[] = [];

function waitListening(p: ChildProcess, port: number, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const t = setTimeout(
      () => reject(new Error(`nats-server not listening on ${port} within ${timeoutMs} ms:\n${log}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      log += d;
      if (log.includes(`Listening for client connections on 127.0.0.1:${port}`)) {
        clearTimeout(t);
        p.stderr!.off('data', onData);
        resolve();
      }
    };
    p.stderr!.on('data', onData);
    p.once('exit', () => {
      clearTimeout(t);
      reject(new Error(`nats-server exited:\n${log}`));
    });
  });
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'attnfit-c3-'));
  const client = [await freePort(), await freePort(), await freePort()];
  const route = [await freePort(), await freePort(), await freePort()];
  for (let i = 0; i < 3; i++) {
    const sd = join(dir, `n${i + 1}`);
    mkdirSync(sd);
    const conf = [
      `server_name: attnfit-n${i + 1}`,
      `listen: "127.0.0.1:${client[i]}"`,
      `jetstream { store_dir: "${join(sd, 'js')}" }`,
      `cluster { name: attnfit, listen: "127.0.0.1:${route[i]}", routes: [${route.map((p) => `"nats-route://127.0.0.1:${p}"`).join(', ')}] }`,
      includeAuth(sd),
    ].join('\n');
    writeFileSync(join(sd, 'nats.conf'), conf);
    const p = spawn('nats-server', ['-c', join(sd, 'nats.conf')], {
      env: { ...process.env, ...SERVER_ENV },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    servers.push(p);
    urls.push(`nats://127.0.0.1:${client[i]}`);
    await waitListening(p, client[i]!);
  }
});

test.after(async () => {
  await stopAll(procs);
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.exitCode !== null || s.signalCode !== null) {
            resolve();
            return;
          }
          const t = setTimeout(() => s.kill('SIGKILL'), 5000); // bounded: a stuck shutdown must not hang the suite
          s.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          s.kill('SIGTERM');
        }),
    ),
  );
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('coordinator on server 1, workers on servers 2 and 3: the job succeeds, bitwise equal to local', async () => {
  const as = (u: keyof typeof PASSWORDS, i: number) => ['--nats', urls[i]!, '--user', u, '--pass', PASSWORDS[u]];
  // The coordinator retries until the JetStream meta leader is elected.
  procs.push(await startCoordinatorProc(as('coordinator', 0)));
  procs.push(
    await startWorkerProc([...as('worker', 1), '--name', 'w-on-n2']),
    await startWorkerProc([...as('worker', 2), '--name', 'w-on-n3']),
  );
  const gen = await run(['generate', '--n', '96', '--d', '3', '--seed', '2', '--out', join(dir, 'p')]);
  assert.is(gen.code, 0, gen.out);
  const opts = ['--method', 'lbfgs', '--max-iter', '25', '--no-search'];
  const sub = await run([
    'submit',
    join(dir, 'p'),
    ...as('submitter', 2),
    ...opts,
    '--wait',
    '--out',
    join(dir, 'cluster'),
  ]);
  assert.is(sub.code, 0, sub.out);
  const local = await run(['solve', join(dir, 'p'), ...opts, '--out', join(dir, 'local')]);
  assert.is(local.code, 0, local.out);
  assert.ok(
    readFileSync(join(dir, 'cluster', 'X.npy')).equals(readFileSync(join(dir, 'local', 'X.npy'))),
    'X.npy differs',
  );
  const rep = JSON.parse(readFileSync(join(dir, 'cluster', 'report.json'), 'utf8')) as {
    cluster: { workers: string[] };
  };
  assert.ok(rep.cluster.workers.length >= 1);
  for (const w of rep.cluster.workers) assert.ok(['w-on-n2', 'w-on-n3'].includes(w), w);
});

test.run();
