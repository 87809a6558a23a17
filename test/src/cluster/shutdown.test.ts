/**
 * Bounded shutdown of the long-running services (`worker`, `coordinator`, `dynamic serve`),
 * real processes against a real nats-server on loopback:
 * - server up: SIGTERM drains cleanly (exit 0);
 * - server killed first: SIGTERM still ends the process — the drain cannot reach the server, so
 *   the `--shutdown-timeout` bound ends it (exit 1 with a line saying so), never a hang;
 * - a second SIGTERM exits at once (143) without an [INTERNAL] stack, even with a long bound.
 * Every wait is bounded by a watchdog that SIGKILLs the process and fails the test: the
 * watchdogs are far above the bound given, so they catch a hang, not a slow machine.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { cli, startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from './procs.js';

const SERVICES = ['worker', 'coordinator', 'dynamic serve'] as const;
type Service = (typeof SERVICES)[number];

/** Start one service and resolve once it reports ready. */
async function start(svc: Service, url: string, extra: string[]): Promise<CliProc> {
  if (svc === 'worker') return startWorkerProc(['--nats', url, ...extra]);
  if (svc === 'coordinator') return startCoordinatorProc(['--nats', url, ...extra]);
  const p = cli(['dynamic', 'serve', '--nats', url, ...extra]);
  await p.line(/attnfit dynamic: serving sessions/, 30_000);
  return p;
}

/** The exit code, or a failure naming the output when the process is still running after watchdogMs. */
async function exitWithin(p: CliProc, watchdogMs: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), watchdogMs);
  });
  const r = await Promise.race([p.exit, hung]);
  clearTimeout(timer);
  if (r === 'hung') {
    p.kill('SIGKILL');
    await p.exit;
    assert.unreachable(`${what}: still running ${watchdogMs} ms after SIGTERM:\n${p.out()}`);
  }
  return r as number;
}

const procs: CliProc[] = [];
test.after(async () => {
  await stopAll(procs);
});

test('server up: SIGTERM drains worker, coordinator and dynamic serve cleanly (exit 0)', async () => {
  const server = await startNatsServer();
  try {
    const ps = await Promise.all(SERVICES.map((s) => start(s, server.url, ['--shutdown-timeout', '20'])));
    procs.push(...ps);
    for (const p of ps) p.kill('SIGTERM');
    const codes = await Promise.all(ps.map((p, i) => exitWithin(p, 60_000, SERVICES[i]!)));
    ps.forEach((p, i) => {
      assert.is(codes[i], 0, `${SERVICES[i]}: signal ${p.proc.signalCode} exit ${p.proc.exitCode}: ${p.out()}`);
      assert.match(p.out(), /SIGTERM: shutting down/);
      assert.not.match(p.out(), /INTERNAL|node:internal|did not finish/);
    });
  } finally {
    await server.stop();
  }
});

test('server killed first: SIGTERM still ends every service within --shutdown-timeout (exit 1, says why)', async () => {
  const server: NatsServerHandle = await startNatsServer();
  const ps = await Promise.all(SERVICES.map((s) => start(s, server.url, ['--shutdown-timeout', '2'])));
  procs.push(...ps);
  server.proc.kill('SIGKILL');
  await server.stop();
  for (const p of ps) p.kill('SIGTERM');
  const codes = await Promise.all(ps.map((p, i) => exitWithin(p, 45_000, SERVICES[i]!)));
  ps.forEach((p, i) => {
    const out = p.out();
    assert.not.match(out, /INTERNAL|node:internal|Uncaught/, `${SERVICES[i]}: ${out}`);
    // Either the drain gave up on the lost connection by itself (0), or the bound ended it (1).
    if (codes[i] !== 0) {
      assert.is(codes[i], 1, `${SERVICES[i]}: ${out}`);
      assert.match(out, /shutdown did not finish within 2 s/, `${SERVICES[i]}: ${out}`);
    }
  });
});

test('a second SIGTERM exits at once (143), without an [INTERNAL] stack', async () => {
  const server = await startNatsServer();
  const ps = await Promise.all(SERVICES.map((s) => start(s, server.url, ['--shutdown-timeout', '600'])));
  procs.push(...ps);
  server.proc.kill('SIGKILL');
  await server.stop();
  for (const p of ps) p.kill('SIGTERM');
  // The first signal is taken (and the drain is stuck on the dead server) before the second.
  await Promise.all(ps.map((p) => p.line(/SIGTERM: shutting down/, 30_000)));
  for (const p of ps) p.kill('SIGTERM');
  // The bound is 600 s: exiting before the 60 s watchdog can only be the second signal.
  const codes = await Promise.all(ps.map((p, i) => exitWithin(p, 60_000, SERVICES[i]!)));
  ps.forEach((p, i) => {
    assert.is(codes[i], 143, `${SERVICES[i]}: ${p.out()}`);
    assert.match(p.out(), /SIGTERM again: exiting now/);
    assert.not.match(p.out(), /INTERNAL|node:internal|at .*\.js:\d+/);
  });
});

test.run();
