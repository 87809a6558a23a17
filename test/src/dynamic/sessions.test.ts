import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AttnfitError } from '@attnfit/shared/core';
import { DynamicAttention, type DynamicOp } from '@attnfit/shared/dynamic';
import {
  openDynamicSession,
  openNatsDynamicSession,
  startDynamicService,
  type DynamicSession,
  type DynamicServiceHandle,
} from '@attnfit/coordinator';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randn, randMatrix } from '../helpers/rng.js';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

const n = 40,
  d = 6;
const R0 = rng(2024);
const Q = randMatrix(R0, n, d, 2.5),
  K = randMatrix(R0, n, d, 2.5),
  V = randMatrix(R0, n, d);

/** A fixed script of ops (updates of every kind and queries). */
function script(seed: number, count: number): DynamicOp[] {
  const R = rng(seed);
  const ops: DynamicOp[] = [];
  for (let t = 0; t < count; t++) {
    const u = R(),
      i = Math.floor(R() * n),
      j = Math.floor(R() * d);
    if (u < 0.3) ops.push({ op: 'updateK', i, j, delta: 2 * randn(R) });
    else if (u < 0.45) ops.push({ op: 'updateV', i, j, delta: randn(R) });
    else if (u < 0.5) ops.push({ op: 'updateKRow', i, delta: Array.from({ length: d }, () => randn(R)) });
    else if (u < 0.55) ops.push({ op: 'setV', i, j, delta: randn(R) });
    else if (u < 0.9) ops.push({ op: 'query', i, j });
    else ops.push({ op: 'queryRow', i });
  }
  return ops;
}

/** In-process answers for a script. */
function local(ops: DynamicOp[], tau: number): Array<number | number[]> {
  const da = DynamicAttention.init(Q, K, V, n, d, { tau });
  const out: Array<number | number[]> = [];
  for (const op of ops) {
    switch (op.op) {
      case 'updateK':
        da.updateK(op.i, op.j, op.delta);
        break;
      case 'updateV':
        da.updateV(op.i, op.j, op.delta);
        break;
      case 'setV':
        da.setV(op.i, op.j, op.delta);
        break;
      case 'updateKRow':
        da.updateKRow(op.i, op.delta);
        break;
      case 'query':
        out.push(da.query(op.i, op.j));
        break;
      case 'queryRow':
        out.push(Array.from(da.queryRow(op.i)));
        break;
      default:
        throw new Error(`unexpected ${op.op}`);
    }
  }
  return out;
}

/** The same script through a session's methods, one call per op. */
async function viaMethods(s: DynamicSession, ops: DynamicOp[]): Promise<Array<number | number[]>> {
  const out: Array<number | number[]> = [];
  for (const op of ops) {
    switch (op.op) {
      case 'updateK':
        await s.updateK(op.i, op.j, op.delta);
        break;
      case 'updateV':
        await s.updateV(op.i, op.j, op.delta);
        break;
      case 'setV':
        await s.setV(op.i, op.j, op.delta);
        break;
      case 'updateKRow':
        await s.updateKRow(op.i, op.delta);
        break;
      case 'query':
        out.push(await s.query(op.i, op.j));
        break;
      case 'queryRow':
        out.push(Array.from(await s.queryRow(op.i)));
        break;
      default:
        throw new Error(`unexpected ${op.op}`);
    }
  }
  return out;
}

const norm = (xs: Array<number | Float64Array>) => xs.map((x) => (typeof x === 'number' ? x : Array.from(x)));

async function expectCode(p: Promise<unknown>, code: string, msg: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AttnfitError, `expected AttnfitError, got ${String(e)}`);
    assert.is((e as AttnfitError).code, code);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

let server: NatsServerHandle;
let nc: NatsConnection;
let svc: DynamicServiceHandle;
let svcStopped = false;

test.before(async () => {
  // A small max_payload so that the chunked upload path is exercised too.
  server = await startNatsServer({ jetstream: false, config: 'max_payload: 8192' });
  nc = await connect({ servers: server.url });
  svc = await startDynamicService(nc);
});

test.after(async () => {
  if (!svcStopped) await svc?.stop();
  await nc?.drain();
  await server?.stop();
});

test('worker-thread session (comlink) answers exactly like the in-process structure', async () => {
  const ops = script(11, 250);
  const want = local(ops, 0.5);
  const s = await openDynamicSession(Q, K, V, n, d, { tau: 0.5 });
  try {
    assert.equal(await viaMethods(s, ops), want);
    const st = await s.stats();
    assert.is(st.n, n);
    assert.ok(st.rebuilds > 0);
    // batched apply on a fresh session gives the same answers
    const s2 = await openDynamicSession(Q, K, V, n, d, { tau: 0.5 });
    assert.equal(norm(await s2.apply(ops)), want);
    await s2.close();
  } finally {
    await s.close();
  }
});

test('worker-thread session: errors keep their code across the thread boundary', async () => {
  await expectCode(openDynamicSession(Q, K, V.subarray(1), n, d), 'SHAPE_MISMATCH', /V: length must be n\*d/);
  const s = await openDynamicSession(Q, K, V, n, d, { tau: 0.25 });
  await expectCode(s.updateK(n, 0, 1), 'BAD_OP', /row index must be an integer in \[0, 39\] \(got 40\)/);
  await expectCode(
    s.apply([
      { op: 'query', i: 0, j: 0 },
      { op: 'query', i: 0, j: 99 },
    ]),
    'BAD_OP',
    /ops\[1\]: "j"/,
  );
  assert.is((await s.stats()).queries, 0, 'an invalid batch applies nothing');
  await s.close();
  await expectCode(s.query(0, 0), 'NOT_FOUND', /closed/);
});

test('NATS session (inline open) answers exactly like the in-process structure', async () => {
  const small = 8; // 3·8·small·d bytes fit inline
  const Qs = Q.subarray(0, small * d),
    Ks = K.subarray(0, small * d),
    Vs = V.subarray(0, small * d);
  const da = DynamicAttention.init(Qs, Ks, Vs, small, d, { tau: 0.5 });
  const s = await openNatsDynamicSession(nc, Qs.slice(), Ks.slice(), Vs.slice(), small, d, { tau: 0.5 });
  assert.equal(svc.sessions().length, 1);
  await s.updateK(3, 1, 2.5);
  da.updateK(3, 1, 2.5);
  await s.updateV(5, 0, -1);
  da.updateV(5, 0, -1);
  assert.is(await s.query(0, 0), da.query(0, 0));
  assert.equal(Array.from(await s.queryRow(7)), Array.from(da.queryRow(7)));
  await s.close();
  assert.equal(svc.sessions().length, 0);
});

test('NATS session (chunked upload) matches, method by method and batched; errors are replies', async () => {
  const ops = script(12, 200);
  const want = local(ops, 0.75);
  const s = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: 0.75 });
  try {
    assert.equal(await viaMethods(s, ops), want);
    const st = await s.stats();
    assert.is(st.threshold, Math.ceil(n ** 0.75));
    await expectCode(s.query(0, d), 'BAD_OP', /j: column index must be an integer in \[0, 5\] \(got 6\)/);
    await expectCode(s.updateV(0, 0, Number.NaN), 'BAD_OP', /"delta": must be a finite number/);
  } finally {
    await s.close();
  }
  const s2 = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: 0.75 });
  assert.equal(norm(await s2.apply(ops)), want);
  await s2.close();
  await expectCode(s2.query(0, 0), 'NOT_FOUND', /already closed/);
});

test('NATS: a request to an unknown session is NOT_FOUND', async () => {
  const { NatsDynamicSession } = await import('@attnfit/coordinator/internal');
  const ghost = new NatsDynamicSession(nc, '0123456789abcdef', n, d, 2000);
  await expectCode(ghost.query(0, 0), 'NOT_FOUND', /no service is answering/);
});

test('`attnfit dynamic serve` serves sessions and exits 0 on SIGTERM', async () => {
  await svc.stop();
  svcStopped = true; // only the spawned server answers opens now
  const bin = fileURLToPath(new URL('../../../coordinator/bin/attnfit.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'dynamic', 'serve', '--nats', server.url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (b) => {
      err += b;
      if (err.includes('serving sessions')) resolve();
    });
    child.on('close', () => reject(new Error(`serve exited early: ${err}`)));
  });
  const ops = script(13, 60);
  const s = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: 0.5 });
  assert.equal(norm(await s.apply(ops)), local(ops, 0.5));
  await s.close();
  child.kill('SIGTERM');
  assert.is(await exited, 0, err);
  assert.match(err, /dynamic session [0-9a-f]{16} opened \(n=40, d=6\)/);
});

test.run();
