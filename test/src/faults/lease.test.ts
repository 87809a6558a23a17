/**
 * The coordinator lease (coordinator/src/cluster/lease.ts) in-process against a real nats-server
 * on loopback, with short timings (renew every 50 ms, TTL 400 ms): a second coordinator is
 * refused with CONFLICT naming the holder while the lease is renewed; a released lease is taken
 * at once; a lease nobody renews (its holder died) is taken over after the TTL; a holder whose
 * lease was taken over is told (onLost) and does not delete the new holder's lease.
 * The same behaviour with real processes: test/src/faults/server.slow.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { CoordinatorLease, LEASE_KEY } from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

const T = { renewMs: 50, ttlMs: 400 };
let server: NatsServerHandle;
let nc: NatsConnection;
let kv: KV;

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create('lease-test', { history: 1 });
});

test.after(async () => {
  await nc?.close();
  await server?.stop();
});

test('a renewed lease refuses a second holder (CONFLICT naming the holder); a released one is taken at once', async () => {
  const a = await CoordinatorLease.acquire(kv, 'coord-a', T);
  const err = await CoordinatorLease.acquire(kv, 'coord-b', T).then(
    () => undefined,
    (e: unknown) => e as { code?: string; message?: string },
  );
  assert.is(err?.code, 'CONFLICT');
  assert.match(err!.message!, /another coordinator holds the cluster lease \(coord-a,/);
  await a.release();
  assert.is(await kv.get(LEASE_KEY).then((e) => e?.operation), 'DEL');
  const t0 = Date.now();
  const b = await CoordinatorLease.acquire(kv, 'coord-b', T);
  assert.ok(Date.now() - t0 < T.ttlMs, 'taken without waiting for the TTL');
  await b.release();
});

test('a lease nobody renews (dead holder) is taken over after the TTL; the old holder learns it lost the lease', async () => {
  const lostTo: string[] = [];
  const a = await CoordinatorLease.acquire(kv, 'coord-a', { ...T, onLost: (h) => lostTo.push(h) });
  // Freeze a: its renewals stop (as when the process is SIGSTOPped).
  (a as unknown as { stop(): void }).stop();
  const logs: string[] = [];
  const b = await CoordinatorLease.acquire(kv, 'coord-b', { ...T, log: (l) => logs.push(l) });
  assert.ok(
    logs.some((l) => /the lease of coord-a expired .*taken over/.test(l)),
    logs.join('\n'),
  );
  // a wakes up: its next renewal finds the lease taken.
  (a as unknown as { timer?: NodeJS.Timeout; renew(): Promise<void> }).timer = setInterval(() => undefined, 1000);
  await (a as unknown as { renew(): Promise<void> }).renew();
  assert.equal(lostTo, ['coord-b']);
  // Its release leaves b's lease alone.
  await a.release();
  const e = await kv.get(LEASE_KEY);
  assert.is(e?.operation, 'PUT');
  assert.match(new TextDecoder().decode(e!.value), /"holder":"coord-b"/);
  await b.release();
});

test.run();
