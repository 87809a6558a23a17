/**
 * The simulation harness of bench/scaling.mjs (bench/lib/sim.mjs), end to end at small scale
 * against a real nats-server: three simulated workers (real WorkerServices with the `compute`
 * seam, in this process) answer every shard of NatsOracle evaluations of a small plan with
 * partials of the right shape; bytes are counted; no problem is fetched. And the event model
 * without NATS: an even spread with free links gives ⌈S/N⌉ shard times. Behaviour only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Partials } from '@attnfit/shared/core';
import type { ProblemRef } from '@attnfit/shared/protocol';
import type { WorkerService } from '@attnfit/worker/service';
import { NatsOracle } from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

interface SimModule {
  linkClock(): { sab: SharedArrayBuffer };
  startSimWorkers(o: {
    servers: string;
    count: number;
    params: Record<string, unknown>;
    sab: SharedArrayBuffer;
    heartbeatMs?: number;
  }): Promise<{ workers: WorkerService[]; drain(): Promise<unknown> }>;
  simProblemRef(n: number, d: number): ProblemRef;
  modelEvaluation(shardRows: number[], n: number, assign: number[], p: Record<string, number>): number;
  assignment(S: number, N: number, how: 'spread' | 'random', rand: () => number): number[];
}

const sim = (await import(new URL('../../../bench/lib/sim.mjs', import.meta.url).href)) as SimModule;

const n = 64,
  d = 4;
let server: NatsServerHandle;
let nc: NatsConnection;
let workers: Awaited<ReturnType<SimModule['startSimWorkers']>>;

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  workers = await sim.startSimWorkers({
    servers: server.url,
    count: 3,
    // 1 µs per attention element at 1 thread: a shard of 8 rows × 64 takes about half a millisecond.
    params: { nsPerElement: { default: 1000 }, threads: 1, bw: 1e9, bwCoord: 1e9, latencyMs: 0.1 },
    sab: sim.linkClock().sab,
    heartbeatMs: 0,
  });
});

test.after(async () => {
  await workers?.drain();
  await nc?.close();
  await server?.stop();
});

test('simulated workers answer every shard of NatsOracle evaluations with well-shaped partials', async () => {
  const zeros = new Float64Array(n * d);
  const oracle = new NatsOracle(nc, { n, d, A1: zeros, A2: zeros, A3: zeros, B: zeros }, sim.simProblemRef(n, d), {
    jobId: 'sim-test',
    blockRows: 8,
    shardBlocks: 1,
    hedgeFactor: 0,
  });
  try {
    const S = oracle.plan.shards.length;
    assert.is(S, 8);
    const X = new Float64Array(d * d),
      Y = new Float64Array(d * d);
    const h: Partials = await oracle.evaluate(X, Y, { hessXX: true, hessXY: true });
    assert.is(h.rows, n, 'every row covered once');
    assert.is(h.hessXX?.length, d ** 4);
    assert.is(h.hessXY?.length, d ** 4);
    const g = await oracle.evaluate(X, Y, { loss: true, gradX: true });
    assert.is(g.rows, n);
    assert.is(g.loss, S, 'one fake loss of 1 per shard, every shard answered once');
    assert.is(g.gradX?.length, d * d);
    const m = await oracle.evaluate(X, Y, { normal: true });
    assert.is(m.MtM?.length, d * d);
    assert.is(m.MtB?.length, d * d);
    assert.is(oracle.stats.tasks, 3 * S);
    const t = oracle.traffic();
    assert.ok(t.bytesSent > 0 && t.bytesReceived > 0, JSON.stringify(t));
    // A Hessian evaluation's replies alone are S × (d⁴ + d²(d²+1)/2) doubles.
    assert.ok(t.bytesReceived > S * (d ** 4 + (d * d * (d * d + 1)) / 2) * 8);
    const st = workers.workers.map((w) => w.stats());
    assert.is(
      st.reduce((s, x) => s + x.tasks, 0),
      3 * S,
    );
    assert.is(
      st.reduce((s, x) => s + x.errors + x.fetches, 0),
      0,
      'no errors, nothing fetched',
    );
  } finally {
    await oracle.close();
  }
});

test('the event model: an even spread over free links takes ⌈S/N⌉ shard times', () => {
  const p = {
    ns: 1,
    threads: 1,
    bw: Infinity,
    bwCoord: Infinity,
    latencyMs: 0,
    slowdown: 1,
    taskBytes: 0,
    replyBytes: 0,
    coordMs: 0,
    taskMs: 0,
  };
  const rows = Array.from({ length: 10 }, () => 1000); // 10 shards of 1000 rows × n = 1000: 1 ms each
  for (const [N, waves] of [
    [1, 10],
    [3, 4],
    [10, 1],
    [16, 1],
  ] as const) {
    const ms = sim.modelEvaluation(rows, 1000, sim.assignment(10, N, 'spread', Math.random), p);
    assert.ok(Math.abs(ms - waves) < 1e-9, `N=${N}: ${ms}`);
  }
  // A shared coordinator link serialises the replies: 10 replies of 1 MB at 1 GB/s add 10 ms.
  const linked = sim.modelEvaluation(rows, 1000, sim.assignment(10, 10, 'spread', Math.random), {
    ...p,
    bwCoord: 1e9,
    replyBytes: 1e6,
  });
  assert.ok(Math.abs(linked - 11) < 1e-9, String(linked));
});

test.run();
