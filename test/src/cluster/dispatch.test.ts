/**
 * Addressed, credit-based shard dispatch (issue 12 item 4): the NatsOracle sends each shard to
 * the live worker (heard through heartbeats) with the fewest of its tasks in flight, at most
 * `credits` per worker; a worker that goes stale gets no new tasks and its shards in flight are
 * re-dispatched at once; with no live worker known it falls back to the queue group. The first
 * tests drive ShardDispatcher / WorkerRoster directly (heartbeats fed by hand); the others run
 * real worker services (and one hand-made worker that freezes) against a real nats-server on
 * loopback. Every cluster result is compared bitwise with the local evaluation.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, nuid, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { blockPartials, evaluateProblem, type Partials, type Problem, type Want } from '@attnfit/shared/math';
import {
  DATA_BUCKET,
  PROTOCOL_VERSION,
  WORKER_HEARTBEAT_SUBJECT,
  decodeMessage,
  encode,
  packProblem,
  partialsToWire,
  problemRef,
  workerTaskSubject,
  type ProblemRef,
  type WorkerHeartbeatMsg,
} from '@attnfit/shared/protocol';
import { startWorkerService, type WorkerService } from '@attnfit/worker/service';
import {
  NatsOracle,
  ShardDispatcher,
  shardReplyBytes,
  WorkerRoster,
  type DispatchTarget,
  type RosterEvent,
} from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';
// Same GEMM backend as the worker threads (native BLAS when built).
import '@attnfit/shared/native';

function heartbeat(
  dispatchId: string | undefined,
  o: { name?: string; intervalMs?: number; state?: 'up' | 'stopping' } = {},
): WorkerHeartbeatMsg {
  const m: WorkerHeartbeatMsg = {
    v: PROTOCOL_VERSION,
    kind: 'worker.heartbeat',
    name: o.name ?? `w-${dispatchId}`,
    host: 'localhost',
    pid: 1,
    threads: 1,
    gemm: 'test',
    version: '0',
    state: o.state ?? 'up',
    startedAt: 0,
    sentAt: Date.now(),
    intervalMs: o.intervalMs ?? 60_000,
    tasks: 0,
    errors: 0,
    inFlight: 0,
    cached: 0,
    fetches: 0,
  };
  if (dispatchId !== undefined) m.dispatchId = dispatchId;
  return m;
}

const who = (t: DispatchTarget): string => (t.kind === 'direct' ? t.worker.id : 'queue');

test('dispatcher: least loaded first, ties in turn, at most `credits` each; the rest wait in order and go out as credits return', async () => {
  const roster = new WorkerRoster(undefined);
  const d = new ShardDispatcher(roster, 2);
  try {
    roster.heard(heartbeat('a'));
    roster.heard(heartbeat('b'));
    const got: DispatchTarget[] = [];
    for (let k = 0; k < 4; k++) got.push(await d.acquire());
    assert.equal(got.map(who), ['a', 'b', 'a', 'b']);
    // Both full: the next two wait, in order.
    const order: string[] = [];
    const fifth = d.acquire().then((t) => (order.push(`5:${who(t)}`), t));
    const sixth = d.acquire().then((t) => (order.push(`6:${who(t)}`), t));
    await Promise.resolve();
    assert.is(d.waiting, 2);
    d.release(got[1]!); // b answered
    d.release(got[0]!); // then a
    await Promise.all([fifth, sixth]);
    assert.equal(order, ['5:b', '6:a']);
    assert.is(d.inFlight('a'), 2);
    assert.is(d.inFlight('b'), 2);
  } finally {
    d.close();
    roster.close();
  }
});

test('dispatcher: a worker joining gets waiting tasks at once; no live worker (none heard, all stale, none with a dispatch id) means the queue group', async () => {
  const roster = new WorkerRoster(undefined);
  const d = new ShardDispatcher(roster, 1);
  try {
    roster.heard(heartbeat(undefined)); // a worker without a direct subject: not addressable
    assert.is(who(await d.acquire()), 'queue');
    roster.heard(heartbeat('a', { intervalMs: 1 }));
    const first = await d.acquire();
    assert.is(who(first), 'a');
    const waiting = d.acquire();
    roster.heard(heartbeat('b'));
    assert.is(who(await waiting), 'b');
    // a falls silent: stale after 3 intervals, announced as left.
    const left = await new Promise<RosterEvent>((resolve) => {
      const off = roster.onChange((e) => {
        if (e.change !== 'left') return;
        off();
        resolve(e);
      });
    });
    assert.is(left.worker.id, 'a');
    assert.is(left.reason, 'stale');
    assert.equal(
      roster.live().map((w) => w.id),
      ['b'],
    );
    // b says it stops: no live worker, so waiting tasks go to the queue group.
    const third = d.acquire();
    roster.heard(heartbeat('b', { state: 'stopping' }));
    assert.is(who(await third), 'queue');
    // A heartbeat brings a worker back; it still holds its one credit, so the next task waits for it.
    roster.heard(heartbeat('a'));
    const fourth = d.acquire();
    assert.is(d.waiting, 1);
    d.release(first);
    assert.is(who(await fourth), 'a');
  } finally {
    d.close();
    roster.close();
  }
});

test('dispatcher: an extra copy (hedge) goes at once to a live worker not holding one, regardless of credits', async () => {
  const roster = new WorkerRoster(undefined);
  const d = new ShardDispatcher(roster, 1);
  try {
    roster.heard(heartbeat('a'));
    roster.heard(heartbeat('b'));
    await d.acquire();
    await d.acquire();
    assert.is(who(d.pickNow(new Set(['a']))), 'b');
    assert.is(who(d.pickNow(new Set(['b']))), 'a');
    assert.is(d.inFlight('a'), 2);
    assert.is(d.inFlight('b'), 2);
    assert.is(who(d.pickNow(new Set(['a', 'b']))), 'b', 'everyone holds one: the least loaded, ties in turn');
    const ac = new AbortController();
    const waiting = d.acquire(ac.signal);
    ac.abort(new Error('cancelled'));
    await waiting.then(
      () => assert.unreachable('an aborted wait resolves'),
      (e: Error) => assert.is(e.message, 'cancelled'),
    );
    assert.is(d.waiting, 0);
  } finally {
    d.close();
    roster.close();
  }
});

test('heartbeat codec: `working` is an optional list of at most 256 task ids; anything else is a PROTOCOL error naming the field', () => {
  const ok = heartbeat('w1');
  ok.working = ['task-1', 'task-2'];
  assert.equal(decodeMessage(encode(ok), 'worker.heartbeat').working, ['task-1', 'task-2']);
  for (const bad of [['x'.repeat(129)], [''], [3], 'task-1', new Array(257).fill('t')]) {
    const m = { ...heartbeat('w1'), working: bad } as unknown as WorkerHeartbeatMsg;
    assert.throws(() => decodeMessage(encode(m), 'worker.heartbeat'), /PROTOCOL|working/);
  }
});

// ---------------------------------------------------------------------------------------------
// Against a real nats-server.

let server: NatsServerHandle;
let nc: NatsConnection;
const services: WorkerService[] = [];
const conns: NatsConnection[] = [];

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await new Objm(nc).create(DATA_BUCKET);
});

test.after(async () => {
  for (const w of services) await w.drain();
  for (const c of conns) await c.close();
  await nc?.close();
  await server?.stop();
});

function problem(n: number, d: number, seed: number): Problem {
  const r = rng(seed);
  return { n, d, A1: randMatrix(r, n, d), A2: randMatrix(r, n, d), A3: randMatrix(r, n, d), B: randMatrix(r, n, d) };
}

async function upload(p: Problem): Promise<ProblemRef> {
  const blob = packProblem(p);
  const ref = problemRef(blob, p.n, p.d);
  await (await new Objm(nc).open(DATA_BUCKET)).putBlob({ name: ref.object }, blob);
  return ref;
}

function assertBitwise(got: Partials, want: Partials, label: string): void {
  assert.ok(Object.is(got.loss, want.loss), `${label}: loss ${got.loss} vs ${want.loss}`);
  for (let i = 0; i < want.gradX!.length; i++)
    assert.ok(Object.is(got.gradX![i], want.gradX![i]), `${label}: gradX[${i}]`);
}

/** Resolves when `count` distinct workers have joined the oracle's roster (via onWorker). */
function joined(count: number): { onWorker: (e: RosterEvent) => void; all: Promise<void> } {
  const seen = new Set<string>();
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  return {
    onWorker: (e) => {
      if (e.change === 'joined') seen.add(e.worker.id);
      if (seen.size >= count) done();
    },
    all,
  };
}

const want: Want = { loss: true, gradX: true };

async function spread(workerCount: number, shards: number): Promise<void> {
  const blockRows = 16;
  const p = problem(shards * blockRows, 3, 40 + workerCount);
  const ref = await upload(p);
  const ws: WorkerService[] = [];
  for (let k = 0; k < workerCount; k++) {
    const w = await startWorkerService({
      servers: server.url,
      threads: 1,
      name: `spread-${workerCount}-${k}`,
      log: () => undefined,
    });
    services.push(w);
    ws.push(w);
  }
  const j = joined(workerCount);
  // No hedging: every shard goes out exactly once, so the counts are exact.
  const oracle = new NatsOracle(nc, p, ref, {
    jobId: `spread-${workerCount}`,
    blockRows,
    shardBlocks: 1,
    hedgeFactor: 0,
    onWorker: j.onWorker,
  });
  try {
    assert.is(oracle.info().shards, shards);
    await j.all; // the oracle asked for heartbeats when it was created
    const X = randMatrix(rng(1), 3, 3, 0.3);
    const Y = randMatrix(rng(2), 3, 3);
    const expected = evaluateProblem(p, X, Y, want, blockRows, 1);
    for (let k = 0; k < 3; k++) {
      const before = ws.map((w) => w.stats().tasks);
      assertBitwise(await oracle.evaluate(X, Y, want), expected, `evaluation ${k}`);
      const per = ws.map((w, i) => w.stats().tasks - before[i]!);
      assert.equal(per, new Array(workerCount).fill(shards / workerCount), `evaluation ${k}: tasks per worker ${per}`);
    }
    assert.is(oracle.stats.viaQueue, 0, 'no task went to the queue group');
    assert.is(oracle.stats.tasks, 3 * shards);
  } finally {
    await oracle.close();
    for (const w of ws) await w.drain();
  }
}

test('spread: 4 shards on 2 live workers — exactly 2 each, every evaluation; bitwise equal to local', async () => {
  await spread(2, 4);
});

test('spread: 8 shards on 4 live workers — exactly 2 each, every evaluation; bitwise equal to local', async () => {
  await spread(4, 8);
});

test('fallback: workers without heartbeats are served through the queue group; bitwise equal to local', async () => {
  const blockRows = 16;
  const p = problem(4 * blockRows, 3, 50);
  const ref = await upload(p);
  const ws: WorkerService[] = [];
  for (let k = 0; k < 2; k++) {
    const w = await startWorkerService({ servers: server.url, threads: 1, heartbeatMs: 0, log: () => undefined });
    services.push(w);
    ws.push(w);
  }
  const oracle = new NatsOracle(nc, p, ref, { jobId: 'fallback', blockRows, shardBlocks: 1, discoveryMs: 50 });
  try {
    const X = randMatrix(rng(3), 3, 3, 0.3);
    const Y = randMatrix(rng(4), 3, 3);
    const expected = evaluateProblem(p, X, Y, want, blockRows, 1);
    for (let k = 0; k < 2; k++) assertBitwise(await oracle.evaluate(X, Y, want), expected, `evaluation ${k}`);
    assert.is(oracle.stats.sentTo.size, 0, 'nothing addressed to a worker');
    assert.is(oracle.stats.viaQueue, oracle.stats.tasks);
    assert.is(ws[0]!.stats().tasks + ws[1]!.stats().tasks, oracle.stats.tasks);
  } finally {
    await oracle.close();
    for (const w of ws) await w.drain();
  }
});

/**
 * A hand-made worker: heartbeats with a dispatch id, answers shard tasks (one block each) on its
 * direct subject — until its `freezeAt`-th task arrives: then it stops both, like a SIGSTOPped
 * process, and only counts the tasks that reach it (that one included).
 */
async function fakeWorker(p: Problem, intervalMs: number) {
  const c = await connect({ servers: server.url });
  conns.push(c);
  const id = nuid.next();
  const name = `fake-${id}`;
  let frozen = false;
  let freezeAt = Infinity;
  let got = 0;
  let gotWhileFrozen = 0;
  const beat = (): void => c.publish(WORKER_HEARTBEAT_SUBJECT, encode(heartbeat(id, { name, intervalMs })));
  const timer = setInterval(beat, intervalMs);
  c.subscribe(workerTaskSubject(id), {
    callback: (_e, msg) => {
      got++;
      if (got >= freezeAt && !frozen) {
        frozen = true;
        clearInterval(timer);
      }
      if (frozen) {
        gotWhileFrozen++;
        return;
      }
      const t = decodeMessage(msg.data, 'task');
      const partials = partialsToWire(blockPartials(p, t.r0, t.r1, t.X, t.Y, t.want), p.d);
      msg.respond(
        encode({ v: PROTOCOL_VERSION, kind: 'result', id: t.id, r0: t.r0, r1: t.r1, partials, worker: name }),
      );
    },
  });
  await c.flush();
  beat();
  return {
    id,
    name,
    get got() {
      return got;
    },
    get gotWhileFrozen() {
      return gotWhileFrozen;
    },
    /** Freeze when the n-th task (counted from the start) arrives. */
    freezeAt(n: number): void {
      freezeAt = n;
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

test('a worker that freezes holding shards: it gets no new task, its shards are re-dispatched when it goes stale (no hedging, no task timeout); bitwise equal to local', async () => {
  const blockRows = 8;
  const shards = 12;
  const p = problem(shards * blockRows, 3, 60);
  const ref = await upload(p);
  const healthy = await startWorkerService({ servers: server.url, threads: 1, name: 'steady', log: () => undefined });
  services.push(healthy);
  const fake = await fakeWorker(p, 100);
  const j = joined(2);
  const left: RosterEvent[] = [];
  let gotWhenStale = -1;
  const oracle = new NatsOracle(nc, p, ref, {
    jobId: 'freeze',
    blockRows,
    shardBlocks: 1,
    // Only the stale worker's departure can rescue its shards: no hedging, a task timeout of 10 min.
    hedgeFactor: 0,
    taskTimeoutMs: 600_000,
    onWorker: (e) => {
      j.onWorker(e);
      if (e.change === 'left') left.push(e);
      if (e.change === 'left' && e.worker.id === fake.id) gotWhenStale = fake.got;
    },
  });
  try {
    await j.all;
    const X = randMatrix(rng(5), 3, 3, 0.3);
    const Y = randMatrix(rng(6), 3, 3);
    const expected = evaluateProblem(p, X, Y, want, blockRows, 1);
    // A healthy evaluation: both serve.
    assertBitwise(await oracle.evaluate(X, Y, want), expected, 'before the freeze');
    assert.ok((oracle.stats.sentTo.get(fake.name) ?? 0) > 0, 'the fake worker got shards');
    // Next evaluation: the fake worker freezes on its first task (and never answers it).
    fake.freezeAt(fake.got + 1);
    assertBitwise(await oracle.evaluate(X, Y, want, { timeoutMs: 120_000 }), expected, 'during the freeze');
    assert.ok(
      left.some((e) => e.worker.id === fake.id && e.reason === 'stale'),
      'it left the roster as stale',
    );
    // While it looked live it could receive at most its 2 credits; after it went stale, nothing.
    assert.ok(fake.gotWhileFrozen >= 1 && fake.gotWhileFrozen <= 2, `tasks while frozen: ${fake.gotWhileFrozen}`);
    assert.is(fake.got, gotWhenStale, 'no task reached it after it went stale');
    assert.is(oracle.stats.redispatches, fake.gotWhileFrozen, 'each shard it held went out again once');
    assert.is(oracle.stats.retries, 0, 'no attempt timed out');
    // Later evaluations never address it.
    const sent = oracle.stats.sentTo.get(fake.name);
    for (let k = 0; k < 2; k++) assertBitwise(await oracle.evaluate(X, Y, want), expected, `after ${k}`);
    assert.is(oracle.stats.sentTo.get(fake.name), sent);
    assert.is(fake.got, gotWhenStale);
  } finally {
    fake.stop();
    await oracle.close();
    await healthy.drain();
  }
});

/**
 * A hand-made worker that takes `delayMs` per task (longer than the oracle's task timeout) and
 * heartbeats every `intervalMs`, listing the ids it is computing in `working` when `listWorking`.
 */
async function slowWorker(p: Problem, intervalMs: number, delayMs: number, listWorking: boolean) {
  const c = await connect({ servers: server.url });
  conns.push(c);
  const id = nuid.next();
  const name = `slow-${id}`;
  const working = new Set<string>();
  let maxConcurrent = 0;
  const beat = (): void => {
    const m = heartbeat(id, { name, intervalMs });
    if (listWorking && working.size) m.working = [...working];
    c.publish(WORKER_HEARTBEAT_SUBJECT, encode(m));
  };
  const timer = setInterval(beat, intervalMs);
  c.subscribe(workerTaskSubject(id), {
    callback: (_e, msg) => {
      const t = decodeMessage(msg.data, 'task');
      working.add(t.id);
      maxConcurrent = Math.max(maxConcurrent, working.size);
      setTimeout(() => {
        working.delete(t.id);
        const partials = partialsToWire(blockPartials(p, t.r0, t.r1, t.X, t.Y, t.want), p.d);
        if (!c.isClosed())
          msg.respond(
            encode({ v: PROTOCOL_VERSION, kind: 'result', id: t.id, r0: t.r0, r1: t.r1, partials, worker: name }),
          );
      }, delayMs);
    },
  });
  await c.flush();
  beat();
  return {
    id,
    get maxConcurrent() {
      return maxConcurrent;
    },
    stop: () => clearInterval(timer),
    close: () => c.close(),
  };
}

test('a task longer than the task timeout is not lost while its live worker lists it as working; without the list it times out', async () => {
  const blockRows = 8;
  const p = problem(2 * blockRows, 3, 70);
  const ref = await upload(p);
  const X = randMatrix(rng(7), 3, 3, 0.3);
  const Y = randMatrix(rng(8), 3, 3);
  const expected = evaluateProblem(p, X, Y, want, blockRows, 1);
  for (const listWorking of [true, false]) {
    const w = await slowWorker(p, 100, 1500, listWorking);
    const j = joined(1);
    const oracle = new NatsOracle(nc, p, ref, {
      jobId: `slow-${listWorking}`,
      blockRows,
      shardBlocks: 1,
      hedgeFactor: 0,
      taskTimeoutMs: 300,
      maxAttempts: 2,
      onWorker: j.onWorker,
    });
    try {
      await j.all;
      if (listWorking) {
        assert.is(oracle.stats.sentTo.size, 0);
        assertBitwise(await oracle.evaluate(X, Y, want), expected, 'slow but working');
        assert.is(oracle.stats.retries, 0, 'no attempt timed out');
        assert.equal([...oracle.stats.sentTo.keys()], [`slow-${w.id}`], 'only the slow worker served');
      } else {
        const err = await oracle.evaluate(X, Y, want).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        assert.ok(err && oracle.stats.retries > 0, `expected timeouts, got ${err?.message} / ${oracle.stats.retries}`);
      }
    } finally {
      await oracle.close();
      w.stop();
      await w.close();
    }
  }
});

test('reply window: the shards in flight carry at most replyWindowBytes of replies (nats-server drops a client with more than max_pending waiting); bitwise equal to local', async () => {
  const blockRows = 8;
  const p = problem(8 * blockRows, 3, 80);
  const ref = await upload(p);
  const X = randMatrix(rng(9), 3, 3, 0.3);
  const Y = randMatrix(rng(10), 3, 3);
  const hess: Want = { loss: true, gradX: true, hessXX: true, hessXY: true };
  assert.is(shardReplyBytes({ hessXX: true, hessXY: true }, 16), 8 * (1 + (256 * 257) / 2 + 256 * 256) + 512);
  const w = await slowWorker(p, 100, 150, true);
  const j = joined(1);
  const oracle = new NatsOracle(nc, p, ref, {
    jobId: 'window',
    blockRows,
    shardBlocks: 1,
    hedgeFactor: 0,
    credits: 8,
    replyWindowBytes: 2 * shardReplyBytes(hess, 3),
    onWorker: j.onWorker,
  });
  try {
    await j.all;
    const got = await oracle.evaluate(X, Y, hess);
    const local = evaluateProblem(p, X, Y, hess, blockRows, 1);
    assert.ok(Object.is(got.loss, local.loss), 'loss bitwise');
    for (let i = 0; i < local.hessXX!.length; i++)
      assert.ok(Object.is(got.hessXX![i], local.hessXX![i]), `hessXX[${i}]`);
    assert.is(w.maxConcurrent, 2, 'two shards in flight at most (credits would allow 8)');
    await oracle.evaluate(X, Y, want); // gradient replies are small: the window does not bind
    assert.ok(w.maxConcurrent > 2, `gradient shards in flight at once: ${w.maxConcurrent}`);
  } finally {
    await oracle.close();
    w.stop();
    await w.close();
  }
});

test.run();
