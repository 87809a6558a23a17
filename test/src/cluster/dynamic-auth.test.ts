/**
 * `attnfit dynamic serve` behind the deploy config's users: the server runs as `worker`, a
 * `submitter` opens a session and gets exact answers; a wrong password is refused with AUTH.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DynamicAttention } from '@attnfit/shared/dynamic';
import { openNatsDynamicSession } from '@attnfit/coordinator';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';
import { PASSWORDS, SERVER_ENV, cli, includeAuth, run, stopAll, type CliProc } from './procs.js';

let server: NatsServerHandle;
let serve: CliProc | undefined;
let nc: NatsConnection | undefined;

test.before(async () => {
  for (const [k, v] of Object.entries(SERVER_ENV)) process.env[k] = v; // the server reads passwords from its env
  server = await startNatsServer({
    rawConfig: ({ port, dir }) =>
      `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n${includeAuth(dir)}\n`,
  });
});

test.after(async () => {
  await nc?.close();
  await stopAll([serve]);
  await server?.stop();
});

test('dynamic serve as the worker user; a submitter session answers exactly like the in-process structure', async () => {
  serve = cli(['dynamic', 'serve', '--nats', server.url, '--user', 'worker', '--pass', PASSWORDS.worker]);
  await serve.line(/serving|listening|ready/i, 20_000);
  // deploy/auth.conf: each role may subscribe only to its own inbox prefix (as connectNats sets it).
  nc = await connect({
    servers: server.url,
    user: 'submitter',
    pass: PASSWORDS.submitter,
    inboxPrefix: '_INBOX_submitter',
  });
  const r = rng(5),
    n = 24,
    d = 3;
  const Q = randMatrix(r, n, d, 2),
    K = randMatrix(r, n, d),
    V = randMatrix(r, n, d);
  const da = DynamicAttention.init(Q.slice(), K.slice(), V.slice(), n, d, { tau: 0.5 });
  const s = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: 0.5 });
  try {
    for (let t = 0; t < 20; t++) {
      await s.updateK(t % n, t % d, 0.7);
      da.updateK(t % n, t % d, 0.7);
      await s.updateV((3 * t) % n, (t + 1) % d, -0.4);
      da.updateV((3 * t) % n, (t + 1) % d, -0.4);
      assert.is(await s.query((5 * t) % n, t % d), da.query((5 * t) % n, t % d));
    }
  } finally {
    await s.close();
  }
});

test('dynamic serve with a wrong password exits 2 with AUTH', async () => {
  const bad = await run(['dynamic', 'serve', '--nats', server.url, '--user', 'worker', '--pass', 'nope']);
  assert.is(bad.code, 2, bad.out);
  assert.match(bad.out, /attnfit: error \[AUTH\]/);
});

test.run();
