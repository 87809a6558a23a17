/**
 * A frozen worker (subscribed to the task queue group, never answering) next to a healthy one:
 * the NatsOracle hedges every block the queue group hands the frozen one until a copy reaches the
 * healthy worker, however often the random queue routing picks the frozen one again — never
 * waiting for the task timeout (600 s here). Regression test: hedging used to stop at
 * maxAttempts copies, so with maxAttempts 2 about half of the blocks first routed to the frozen
 * worker waited the whole task timeout. In-process, against a real nats-server on loopback.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { blockPartials, evaluateProblem, type Problem } from '@attnfit/shared/math';
import {
  DATA_BUCKET,
  PROTOCOL_VERSION,
  TASK_QUEUE,
  TASK_SUBJECT,
  decodeMessage,
  encode,
  encodeError,
  packProblem,
  partialsToWire,
  problemRef,
} from '@attnfit/shared/protocol';
import { NatsOracle } from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';

const r = rng(11);
const p: Problem = {
  n: 40,
  d: 3,
  A1: randMatrix(r, 40, 3),
  A2: randMatrix(r, 40, 3),
  A3: randMatrix(r, 40, 3),
  B: randMatrix(r, 40, 3),
};
const blob = packProblem(p);
const ref = problemRef(blob, p.n, p.d);

let server: NatsServerHandle;
let nc: NatsConnection;
let frozen: NatsConnection;
let healthy: NatsConnection;
let frozenGot = 0;

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await (await new Objm(nc).create(DATA_BUCKET)).putBlob({ name: ref.object }, blob);
  frozen = await connect({ servers: server.url });
  frozen.subscribe(TASK_SUBJECT, { queue: TASK_QUEUE, callback: () => void frozenGot++ });
  healthy = await connect({ servers: server.url });
  healthy.subscribe(TASK_SUBJECT, {
    queue: TASK_QUEUE,
    callback: (_e, msg) => {
      try {
        const t = decodeMessage(msg.data, 'task');
        const partials = partialsToWire(blockPartials(p, t.r0, t.r1, t.X, t.Y, t.want), p.d);
        msg.respond(encode({ v: PROTOCOL_VERSION, kind: 'result', id: t.id, r0: t.r0, r1: t.r1, partials }));
      } catch (err) {
        msg.respond(encodeError('', err));
      }
    },
  });
  await Promise.all([frozen.flush(), healthy.flush()]);
});

test.after(async () => {
  await Promise.all([frozen, healthy, nc].map((c) => c?.close()));
  await server?.stop();
});

test('a frozen queue-group member: every block is hedged until the healthy worker answers; bitwise equal; no task timeout', async () => {
  const hedged: number[] = [];
  const oracle = new NatsOracle(nc, p, ref, {
    jobId: 'frozen-1',
    blockRows: 5,
    shardBlocks: 1,
    taskTimeoutMs: 600_000,
    maxAttempts: 2,
    hedgeMinMs: 20,
    onHedge: (h) => hedged.push(h.shard),
  });
  try {
    const X = randMatrix(rng(1), 3, 3, 0.3);
    const Y = randMatrix(rng(2), 3, 3);
    const want = { loss: true, gradX: true } as const;
    const expected = evaluateProblem(p, X, Y, want, 5, 1);
    // 10 evaluations × 8 blocks: with at most 2 copies a block, some block would surely have
    // had both copies routed to the frozen member and waited the 600 s task timeout.
    for (let k = 0; k < 10; k++) {
      const got = await oracle.evaluate(X, Y, want, { timeoutMs: 60_000 });
      assert.ok(Object.is(got.loss, expected.loss), `evaluation ${k}: loss ${got.loss} vs ${expected.loss}`);
      for (let i = 0; i < expected.gradX!.length; i++) assert.ok(Object.is(got.gradX![i], expected.gradX![i]));
    }
    assert.ok(frozenGot >= 1, 'the frozen member received tasks');
    assert.ok(hedged.length >= 1, 'blocks were hedged');
    assert.is(oracle.stats.retries, 0, 'no attempt timed out');
  } finally {
    await oracle.close();
  }
});

test.run();
