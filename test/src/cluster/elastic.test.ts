/**
 * Elastic workers: a solve that starts with one worker picks up a second one that joins mid-job
 * (it answers shard tasks within the next iteration), keeps going when the first one leaves
 * (drains) mid-job, and ends bitwise equal to the local solve — the plan never changes, only who
 * answers which shard.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { DATA_BUCKET, packProblem, problemRef } from '@attnfit/shared/protocol';
import { startWorkerService, type WorkerService } from '@attnfit/worker/service';
import { InlineOracle, NatsOracle, TrafficLog, solve } from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { perturbed, planted } from '../solver/planted.js';
// Same GEMM backend as the worker threads (native BLAS when built).
import '@attnfit/shared/native';

let server: NatsServerHandle;
let nc: NatsConnection;
const workers: WorkerService[] = [];

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await new Objm(nc).create(DATA_BUCKET);
});

test.after(async () => {
  for (const w of workers) await w.drain();
  await nc?.close();
  await server?.stop();
});

const startWorker = async (name: string): Promise<WorkerService> => {
  const w = await startWorkerService({ servers: server.url, threads: 2, name, log: () => undefined });
  workers.push(w);
  return w;
};

test('a worker joining mid-job answers shard tasks within one iteration; one leaving is not missed; result bitwise equal to local', async () => {
  const p = planted(1024, 4, 31);
  const blob = packProblem(p);
  const ref = problemRef(blob, p.n, p.d);
  await (await new Objm(nc).open(DATA_BUCKET)).putBlob({ name: ref.object }, blob);
  // 32 shards of one 32-row block: each evaluation sends 32 tasks at once over the queue group.
  const plan = { blockRows: 32, shardBlocks: 1 };
  const opts = {
    method: 'adam',
    x0: perturbed(p.Xtrue, 0.2, 3),
    maxIter: 12,
    tol: 1e-300,
    gtol: 0,
    search: false,
    starts: 1,
  } as const;
  const first = await startWorker('elastic-1');
  let second: WorkerService | undefined;
  const tasksAt = new Map<number, number>();
  const oracle = new NatsOracle(nc, p, ref, { jobId: 'elastic', ...plan });
  assert.is(oracle.info().shards, 32);
  const traffic = new TrafficLog(() => oracle.traffic());
  const perIteration: number[] = [];
  const result = await solve(oracle, opts, {
    onIteration: async (e) => {
      perIteration.push(traffic.mark(e.start, e.iteration).bytesReceived);
      if (second) tasksAt.set(e.iteration, second.stats().tasks);
      if (e.iteration === 3) {
        assert.is(first.stats().inFlight, 0);
        second = await startWorker('elastic-2');
        tasksAt.set(3, second.stats().tasks);
      }
      if (e.iteration === 8) await first.drain(); // leaves between iterations: nothing in flight
    },
  });
  await oracle.close();
  assert.is(result.iterations, 12);
  assert.is(tasksAt.get(3), 0);
  assert.ok(tasksAt.get(4)! > 0, `the joined worker answered no task in iteration 4 (${JSON.stringify([...tasksAt])})`);
  assert.ok(oracle.stats.workers.has('elastic-1') && oracle.stats.workers.has('elastic-2'));
  // After the first worker left, every task went to the second.
  assert.ok(tasksAt.get(12)! - tasksAt.get(8)! >= 4 * 32, JSON.stringify([...tasksAt]));
  assert.ok(perIteration.every((b) => b > 0));
  const local = await solve(new InlineOracle(p, plan), opts);
  for (let i = 0; i < 16; i++) {
    assert.ok(Object.is(result.X[i], local.X[i]), `X[${i}] ${result.X[i]} vs ${local.X[i]}`);
    assert.ok(Object.is(result.Y[i], local.Y[i]), `Y[${i}] ${result.Y[i]} vs ${local.Y[i]}`);
  }
  assert.ok(Object.is(result.loss, local.loss));
});

test.run();
