/**
 * In-process tests of the worker service and the NatsOracle against a real nats-server:
 * malformed / unknown-version tasks get error replies (the worker survives), missing problems
 * give NOT_FOUND, results are bitwise equal to local block evaluation (one shard and several
 * shards of several blocks), large replies are chunked under a small max_payload, the bytes per
 * evaluation do not grow with n, and the oracle retries a lost task and ignores duplicates.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { evaluateProblem, blockPartials, reduceInOrder, shardBlockRanges, type Problem } from '@attnfit/shared/math';
import {
  DATA_BUCKET,
  JOB_DONE_SUBJECT,
  PROTOCOL_VERSION,
  TASK_QUEUE,
  TASK_SUBJECT,
  decodeMessage,
  encode,
  encodeError,
  packProblem,
  partialsToWire,
  problemRef,
  wireToPartials,
  type TaskMsg,
} from '@attnfit/shared/protocol';
import { startWorkerService, type WorkerService } from '@attnfit/worker/service';
import { InlineOracle, JobStore, NatsOracle, createOracle } from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

function bitsEqual(a: Float64Array | undefined, b: Float64Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function problem(n: number, d: number, seed: number): Problem {
  const r = rng(seed);
  return { n, d, A1: randMatrix(r, n, d), A2: randMatrix(r, n, d), A3: randMatrix(r, n, d), B: randMatrix(r, n, d) };
}

let server: NatsServerHandle;
let nc: NatsConnection;
let worker: WorkerService;
const p = problem(40, 8, 7);
const blob = packProblem(p);
const ref = problemRef(blob, p.n, p.d);
const X = randMatrix(rng(1), 8, 8, 0.3);
const Y = randMatrix(rng(2), 8, 8);

test.before(async () => {
  // A small max_payload so that a d = 8 Hessian reply (≥ 16.6 kB) must be chunked.
  server = await startNatsServer({ config: 'max_payload: 16384' });
  nc = await connect({ servers: server.url });
  const os = await new Objm(nc).create(DATA_BUCKET);
  await os.putBlob({ name: ref.object }, blob);
  worker = await startWorkerService({ servers: server.url, threads: 1, log: () => undefined });
});

test.after(async () => {
  await worker?.drain();
  await nc?.close();
  await server?.stop();
});

function task(over: Partial<TaskMsg> = {}): TaskMsg {
  return {
    v: PROTOCOL_VERSION,
    kind: 'task',
    id: 't-1',
    jobId: 'job-1',
    problem: ref,
    r0: 0,
    r1: 16,
    X,
    Y,
    want: { loss: true, gradX: true },
    ...over,
  };
}

test('malformed bytes and unknown versions get PROTOCOL error replies; the worker keeps serving', async () => {
  const r1 = decodeMessage(
    (await nc.request(TASK_SUBJECT, new Uint8Array([0xc1, 1, 2]), { timeout: 5000 })).data,
    'error',
  );
  assert.is(r1.error.code, 'PROTOCOL');
  const r2 = decodeMessage(
    (await nc.request(TASK_SUBJECT, encode({ ...task(), v: 42 }), { timeout: 5000 })).data,
    'error',
  );
  assert.is(r2.error.code, 'PROTOCOL');
  assert.is(r2.id, 't-1');
  assert.match(r2.error.message, /unsupported protocol version 42/);
  const r3 = decodeMessage(
    (await nc.request(TASK_SUBJECT, encode(task({ r0: 30, r1: 50 })), { timeout: 5000 })).data,
    'error',
  );
  assert.is(r3.error.code, 'PROTOCOL');
  assert.match(r3.error.message, /\[30, 50\)/);
  const ok = decodeMessage((await nc.request(TASK_SUBJECT, encode(task()), { timeout: 10_000 })).data, 'result');
  assert.is(ok.id, 't-1');
});

test('a task for a problem missing from the object store gets NOT_FOUND', async () => {
  const missing = { ...ref, hash: 'f'.repeat(64), object: `problem-${'f'.repeat(64)}` };
  const r = decodeMessage(
    (await nc.request(TASK_SUBJECT, encode(task({ problem: missing })), { timeout: 5000 })).data,
    'error',
  );
  assert.is(r.error.code, 'NOT_FOUND');
});

test('worker results equal local block partials bitwise; the problem is fetched once', async () => {
  const before = worker.stats().fetches;
  const m = decodeMessage(
    (await nc.request(TASK_SUBJECT, encode(task({ id: 't-2', r0: 8, r1: 24 })), { timeout: 10_000 })).data,
    'result',
  );
  const got = wireToPartials(m.partials, p.d);
  const want = blockPartials(p, 8, 24, X, Y, { loss: true, gradX: true });
  assert.ok(Object.is(got.loss, want.loss));
  assert.ok(bitsEqual(got.gradX, want.gradX));
  assert.is(worker.stats().fetches, before);
});

test('a task whose n×d differs from the cached problem with that hash gets PROTOCOL (checked on a cache hit)', async () => {
  const before = worker.stats().fetches;
  const wrong = { ...ref, n: 20, d: 8 };
  const r = decodeMessage(
    (await nc.request(TASK_SUBJECT, encode(task({ id: 't-nd', problem: wrong, r0: 0, r1: 8 })), { timeout: 10_000 }))
      .data,
    'error',
  );
  assert.is(r.error.code, 'PROTOCOL');
  assert.match(r.error.message, /task says 20×8 but the problem with that hash is 40×8/);
  assert.is(worker.stats().fetches, before, 'answered from the cache');
});

test('NatsOracle: chunked Hessian replies, block-order reduce equals evaluateProblem bitwise', async () => {
  const oracle = new NatsOracle(nc, p, ref, { jobId: 'job-2', blockRows: 8 });
  const want = { loss: true, gradX: true, gradY: true, hessXX: true, normal: true };
  const got = await oracle.evaluate(X, Y, want);
  const ref8 = evaluateProblem(p, X, Y, want, 8);
  assert.ok(Object.is(got.loss, ref8.loss));
  for (const k of ['gradX', 'gradY', 'hessXX', 'MtM', 'MtB'] as const) assert.ok(bitsEqual(got[k], ref8[k]), k);
  assert.is(got.rows, p.n);
  assert.equal(oracle.info().blocks, 5);
  assert.equal(oracle.info().shards, 1);
  await oracle.close();
});

test('NatsOracle: 3 shards of 2, 2 and 1 blocks (one task each) equal evaluateProblem and the local engine bitwise; the Hessian travels packed', async () => {
  const oracle = new NatsOracle(nc, p, ref, { jobId: 'job-2s', blockRows: 8, shardBlocks: 2 });
  const want = { loss: true, gradX: true, gradY: true, hessXX: true, hessXY: true, normal: true };
  const tasks0 = worker.stats().tasks;
  const got = await oracle.evaluate(X, Y, want);
  assert.is(worker.stats().tasks - tasks0, 3, 'one task per shard');
  assert.equal([oracle.info().blocks, oracle.info().shards, oracle.info().shardBlocks], [5, 3, 2]);
  const ref82 = evaluateProblem(p, X, Y, want, 8, 2);
  const inline = await new InlineOracle(p, { blockRows: 8, shardBlocks: 2 }).evaluate(X, Y, want);
  assert.ok(Object.is(got.loss, ref82.loss) && Object.is(inline.loss, ref82.loss));
  for (const k of ['gradX', 'gradY', 'hessXX', 'hessXY', 'MtM', 'MtB'] as const) {
    assert.ok(bitsEqual(got[k], ref82[k]), k);
    assert.ok(bitsEqual(inline[k], ref82[k]), `inline ${k}`);
  }
  // Received: per shard the packed hessXX (d²(d²+1)/2 numbers) and the full hessXY (d⁴), far
  // below two full d⁴ matrices per shard.
  const dd = p.d * p.d;
  const { bytesSent, bytesReceived } = oracle.traffic();
  assert.ok(bytesReceived > (3 * 8 * (dd * (dd + 1))) / 2 + 3 * 8 * dd * dd, `received ${bytesReceived}`);
  assert.ok(bytesReceived < 3 * 8 * 1.6 * dd * dd, `received ${bytesReceived}: hessXX not packed?`);
  assert.ok(bytesSent > 0 && bytesSent < 3 * 4096, `sent ${bytesSent}`);
  await oracle.close();
});

test('coordinator bytes per exact-Newton evaluation do not grow with n at fixed d (n = 512 vs 4096, 4 shards each)', async () => {
  const want = { loss: true, gradX: true, gradY: true, hessXX: true, hessXY: true, normal: true };
  const traffic: Array<{ bytesSent: number; bytesReceived: number }> = [];
  for (const [n, shardBlocks] of [
    [512, 2], // 8 blocks of 64 rows
    [4096, 4], // 16 blocks of 256 rows
  ] as const) {
    const q = problem(n, 4, 20 + n);
    const qb = packProblem(q);
    const qref = problemRef(qb, n, 4);
    await (await new Objm(nc).open(DATA_BUCKET)).putBlob({ name: qref.object }, qb);
    const Xq = randMatrix(rng(5), 4, 4, 0.3),
      Yq = randMatrix(rng(6), 4, 4);
    const oracle = new NatsOracle(nc, q, qref, { jobId: `job-n${n}`, shardBlocks });
    assert.is(oracle.info().shards, 4);
    await oracle.evaluate(Xq, Yq, { loss: true }); // the worker fetches the problem (not counted below)
    const before = oracle.traffic();
    const got = await oracle.evaluate(Xq, Yq, want);
    const after = oracle.traffic();
    traffic.push({
      bytesSent: after.bytesSent - before.bytesSent,
      bytesReceived: after.bytesReceived - before.bytesReceived,
    });
    const local = evaluateProblem(q, Xq, Yq, want, undefined, shardBlocks);
    assert.ok(Object.is(got.loss, local.loss) && bitsEqual(got.hessXX, local.hessXX), `n=${n} bitwise`);
    await oracle.close();
  }
  const [small, big] = traffic as [(typeof traffic)[0], (typeof traffic)[0]];
  // Only the integers in the messages (row numbers, n) may take a few more bytes at larger n.
  assert.ok(Math.abs(big.bytesReceived - small.bytesReceived) <= 4 * 16, JSON.stringify(traffic));
  assert.ok(Math.abs(big.bytesSent - small.bytesSent) <= 4 * 16, JSON.stringify(traffic));
  assert.ok(small.bytesReceived > 4 * 8 * 16 * 16, 'one Hessian partial per shard');
});

test('NatsOracle retries a lost task and ignores duplicate replies', async () => {
  // A second server-side responder in the same queue group would race the real worker, so use a
  // separate connection that answers on its own subject by stopping the real worker first.
  await worker.drain();
  const fake = await connect({ servers: server.url });
  let seen = 0;
  fake.subscribe(TASK_SUBJECT, {
    queue: TASK_QUEUE,
    callback: (_e, msg) => {
      seen++;
      if (seen === 1) return; // lose the first task: the oracle must time out and retry
      try {
        const t = decodeMessage(msg.data, 'task');
        // A shard: its blocks in block order (what a real worker computes).
        const part = reduceInOrder(
          shardBlockRanges(t.r0, t.r1, t.blockRows ?? t.r1 - t.r0).map(([a, b]) =>
            blockPartials(p, a, b, t.X, t.Y, t.want),
          ),
        );
        const reply = encode({
          v: PROTOCOL_VERSION,
          kind: 'result',
          id: t.id,
          r0: t.r0,
          r1: t.r1,
          partials: partialsToWire(part, p.d),
        });
        msg.respond(reply);
        msg.respond(reply); // a duplicate
      } catch (err) {
        msg.respond(encodeError('', err));
      }
    },
  });
  await fake.flush();
  const retries: number[] = [];
  const oracle = new NatsOracle(nc, p, ref, {
    jobId: 'job-3',
    blockRows: 20,
    taskTimeoutMs: 300,
    maxInFlight: 1,
    onRetry: (i) => retries.push(i.shard),
  });
  const got = await oracle.evaluate(X, Y, { loss: true });
  assert.ok(Object.is(got.loss, evaluateProblem(p, X, Y, { loss: true }, 20).loss));
  assert.equal(retries, [0]);
  assert.ok(oracle.stats.duplicates >= 1);
  await oracle.close();
  await fake.close();
  // Nobody serves tasks now: the oracle waits (not counted as attempts), then fails WORKER_LOST.
  const lonely = new NatsOracle(nc, p, ref, { jobId: 'job-4', noWorkersTimeoutMs: 300 });
  try {
    await lonely.evaluate(X, Y, { loss: true });
    assert.unreachable('expected WORKER_LOST');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'WORKER_LOST');
    assert.match((err as Error).message, /no worker served attnfit\.task/);
  }
  await lonely.close();
  // CallOptions: timeoutMs → TIMEOUT; an aborted signal → CANCELLED.
  const waiting = new NatsOracle(nc, p, ref, { jobId: 'job-5' });
  const timedOut = await waiting.evaluate(X, Y, { loss: true }, { timeoutMs: 200 }).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  assert.is(timedOut?.code, 'TIMEOUT');
  const ac = new AbortController();
  const pending = waiting.evaluate(X, Y, { loss: true }, { signal: ac.signal }).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  ac.abort();
  assert.is((await pending)?.code, 'CANCELLED');
  await waiting.close();
  worker = await startWorkerService({ servers: server.url, threads: 1, log: () => undefined });
});

test('createOracle({ nats }) uploads the problem and evaluates on the workers, bitwise equal to local', async () => {
  const q = problem(50, 3, 9);
  const Xq = randMatrix(rng(3), 3, 3, 0.5),
    Yq = randMatrix(rng(4), 3, 3);
  const oracle = await createOracle(q, { nats: { servers: server.url } });
  try {
    assert.is(oracle.info().kind, 'nats');
    const want = { loss: true, gradX: true, gradY: true };
    const got = await oracle.evaluate(Xq, Yq, want);
    const local = await createOracle(q, { threads: 0 });
    const ref2 = await local.evaluate(Xq, Yq, want);
    await local.close();
    assert.ok(Object.is(got.loss, ref2.loss));
    assert.ok(bitsEqual(got.gradX, ref2.gradX) && bitsEqual(got.gradY, ref2.gradY));
    assert.is(oracle.bNorm2, local.bNorm2);
  } finally {
    await oracle.close();
  }
});

test("a job.done event evicts the finished job's problem from the worker cache", async () => {
  await nc.request(TASK_SUBJECT, encode(task({ id: 't-e', jobId: 'job-e' })), { timeout: 10_000 });
  const before = worker.stats().cached;
  assert.ok(before >= 1);
  nc.publish(
    JOB_DONE_SUBJECT,
    encode({ v: PROTOCOL_VERSION, kind: 'job.done', jobId: 'job-e', problemHash: ref.hash, state: 'succeeded' }),
  );
  // Messages from one connection arrive in order: once this request is answered, the worker has
  // handled the job.done event (a malformed task does not touch the cache).
  await nc.request(TASK_SUBJECT, new Uint8Array([0xc1]), { timeout: 5000 });
  assert.is(worker.stats().cached, before - 1);
  const fetches = worker.stats().fetches;
  await nc.request(TASK_SUBJECT, encode(task({ id: 't-f', jobId: 'job-f' })), { timeout: 10_000 });
  assert.is(worker.stats().fetches, fetches + 1);
});

test('checkpoints too big for a KV value overflow into the Object Store and round-trip bit-exactly', async () => {
  const store = await JobStore.open(nc, true);
  const os = await new Objm(nc).open(DATA_BUCKET);
  const history = Array.from({ length: 3000 }, (_, i) => ({
    iteration: i,
    loss: 1 / (i + 1),
    relLoss: 1 / (i + 3),
    gradNorm: i / 7,
  }));
  const c = {
    v: PROTOCOL_VERSION,
    kind: 'checkpoint' as const,
    jobId: 'big',
    iteration: 2999,
    start: 0,
    X,
    Y,
    history,
    state: { damping: 0.5 },
  };
  const bytes = await store.putCheckpoint(c, os, 20_000);
  assert.ok(bytes > 20_000);
  assert.ok((await os.info('checkpoint-big')) !== null);
  const back = (await store.getCheckpoint('big', os))!;
  assert.is(back.iteration, 2999);
  assert.ok(bitsEqual(back.X, X) && bitsEqual(back.Y, Y));
  assert.equal(back.history, history);
  assert.equal(back.state, { damping: 0.5 });
  const small = await store.putCheckpoint({ ...c, jobId: 'small', history: [] }, os, 20_000);
  assert.ok(small < 20_000);
  assert.is(await os.info('checkpoint-small'), null);
  assert.ok(bitsEqual((await store.getCheckpoint('small'))!.X, X));
  await store.deleteCheckpoint('big', os);
  assert.is(await store.getCheckpoint('big', os), undefined);
});

test.run();
