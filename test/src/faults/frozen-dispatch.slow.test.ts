/**
 * A SIGSTOPped worker process under addressed dispatch: two real `attnfit worker` processes
 * (heartbeats every 200 ms) serve an in-process NatsOracle running an Adam solve; one is
 * SIGSTOPped mid-job and stays frozen until the end. Its heartbeats stop, the oracle's roster
 * marks it stale, and from then on not one more shard is addressed to it; the shards it held are
 * answered elsewhere (re-dispatched or hedged). The solve ends bitwise equal to the local one,
 * with no task timeout (600 s here). Real nats-server on loopback.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { DATA_BUCKET, packProblem, problemRef } from '@attnfit/shared/protocol';
import { InlineOracle, NatsOracle, solve, type RosterEvent } from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startWorkerProc, stopAll, type CliProc } from '../cluster/procs.js';
import { perturbed, planted } from '../solver/planted.js';

let server: NatsServerHandle;
let nc: NatsConnection;
const procs: CliProc[] = [];

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await new Objm(nc).create(DATA_BUCKET);
});

test.after(async () => {
  for (const p of procs) p.kill('SIGCONT');
  await stopAll(procs);
  await nc?.close();
  await server?.stop();
});

test('a worker SIGSTOPped mid-job goes stale and gets no further shard; the solve ends bitwise equal to local, no task timeout', async () => {
  const p = planted(1024, 4, 37);
  const blob = packProblem(p);
  const ref = problemRef(blob, p.n, p.d);
  await (await new Objm(nc).open(DATA_BUCKET)).putBlob({ name: ref.object }, blob);
  const plan = { blockRows: 64, shardBlocks: 1 }; // 16 shards
  const opts = {
    method: 'adam',
    x0: perturbed(p.Xtrue, 0.2, 5),
    maxIter: 14,
    tol: 1e-300,
    gtol: 0,
    search: false,
    starts: 1,
  } as const;
  const steady = await startWorkerProc(['--nats', server.url, '--name', 'steady', '--heartbeat-ms', '200']);
  procs.push(steady);
  const frozen = await startWorkerProc(['--nats', server.url, '--name', 'frozen', '--heartbeat-ms', '200']);
  procs.push(frozen);
  let live = 0;
  let bothLive!: () => void;
  const both = new Promise<void>((r) => (bothLive = r));
  let staleAt: number | undefined;
  let stale!: () => void;
  const wentStale = new Promise<void>((r) => (stale = r));
  const oracle: NatsOracle = new NatsOracle(nc, p, ref, {
    jobId: 'sigstop-dispatch',
    ...plan,
    taskTimeoutMs: 600_000,
    onWorker: (e: RosterEvent) => {
      if (e.change === 'joined' && ++live === 2) bothLive();
      if (e.change === 'left' && e.worker.name === 'frozen' && e.reason === 'stale' && staleAt === undefined) {
        staleAt = oracle.stats.sentTo.get('frozen') ?? 0;
        stale();
      }
    },
  });
  try {
    await both;
    const result = await solve(oracle, opts, {
      onIteration: async (e) => {
        if (e.iteration === 3) {
          assert.ok((oracle.stats.sentTo.get('frozen') ?? 0) > 0, 'both workers served before the freeze');
          frozen.kill('SIGSTOP');
        }
        // Wait (bounded by the roster's 3 × 200 ms) until it is stale, so that most of the
        // solve runs after it: from then on it must get nothing.
        if (e.iteration === 4) await wentStale;
      },
    });
    assert.is(result.iterations, 14);
    assert.ok(staleAt !== undefined, 'the frozen worker went stale');
    assert.is(oracle.stats.sentTo.get('frozen'), staleAt, 'a shard was addressed to it after it went stale');
    assert.is(oracle.stats.retries, 0, 'no attempt timed out');
    const local = await solve(new InlineOracle(p, plan), opts);
    for (let i = 0; i < 16; i++) {
      assert.ok(Object.is(result.X[i], local.X[i]), `X[${i}] ${result.X[i]} vs ${local.X[i]}`);
      assert.ok(Object.is(result.Y[i], local.Y[i]), `Y[${i}] ${result.Y[i]} vs ${local.Y[i]}`);
    }
  } finally {
    frozen.kill('SIGCONT');
    await oracle.close();
  }
});

test.run();
