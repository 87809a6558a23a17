/**
 * NATS dynamic-session service (`attnfit dynamic serve --nats URL`). Each session lives in its
 * own worker thread ({@link openDynamicSession}), so the event loop that owns the NATS
 * connection never runs a rebuild. Opens go to the queue group (any service instance may take
 * a session); the session's own subjects are subscribed only by the instance holding it.
 * Handlers never throw: every outcome is a reply, errors via errorToWire.
 */
import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes, errorToWire } from '@attnfit/shared/core';
import type { DynamicOp, DynamicOptions } from '@attnfit/shared/dynamic';
import { decodeRaw, encode } from '@attnfit/shared/protocol';
import { openDynamicSession, type DynamicSessionOptions, type ThreadDynamicSession } from './thread-session.js';
import { DYN_OPEN_SUBJECT, DYN_QUEUE, DYN_SESSION_OPS, DYN_WIRE_VERSION, dynSessionSubject, type DynSessionOp } from './wire.js';

export interface DynamicServiceOptions {
  /** Most sessions this instance holds at once (further opens get an error reply). Default 64. */
  maxSessions?: number;
  /** Called with a line of text for each session opened / closed (logging). */
  log?: (line: string) => void;
  /**
   * Threads per rebuild for each session (its own thread included; integer ≥ 1, default 1).
   * Sessions with n ≥ shardMinRows split their rebuilds' row blocks over rebuildThreads − 1
   * helper threads and the session thread (`attnfit dynamic serve --threads N`).
   */
  rebuildThreads?: number;
  /** Shard rebuilds only for sessions with n ≥ this (default DYNAMIC_DEFAULTS.shardMinRows = 2048). */
  shardMinRows?: number;
}

export interface DynamicServiceHandle {
  /** Session ids currently held. */
  sessions(): string[];
  /** Stop taking opens, drain the subscriptions, close every session's thread. */
  stop(): Promise<void>;
}

interface SessionRecord {
  id: string;
  n: number;
  d: number;
  opts: DynamicOptions;
  sub: Subscription;
  buffers: { Q: Float64Array; K: Float64Array; V: Float64Array } | null;
  ready: Promise<ThreadDynamicSession> | null;
}

type Rec = Record<string, unknown>;

function bodyOf(msg: Msg): Rec {
  const v = msg.data.length ? decodeRaw(msg.data) : {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AttnfitError(ErrorCodes.PROTOCOL, 'dynamic request: body must be a msgpack map');
  return v as Rec;
}

function posInt(o: Rec, f: string): number {
  const v = o[f];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic open: ${f} must be an integer >= 1 (got ${String(v)})`);
  return v;
}

function reply(msg: Msg, run: () => Promise<unknown>): void {
  run().then(
    (value) => { msg.respond(encode({ ok: true, value: value ?? null })); },
    (err) => { msg.respond(encode({ ok: false, error: errorToWire(err) })); },
  );
}

/**
 * Start serving dynamic sessions on a connected NATS client. Resolves once the open
 * subscription is registered with the server.
 * @example const svc = await startDynamicService(nc); … await svc.stop();
 */
export async function startDynamicService(nc: NatsConnection, opts: DynamicServiceOptions = {}): Promise<DynamicServiceHandle> {
  const maxSessions = opts.maxSessions ?? 64;
  const log = opts.log ?? (() => {});
  const threadOpts: DynamicSessionOptions = {};
  if (opts.rebuildThreads !== undefined) threadOpts.rebuildThreads = opts.rebuildThreads;
  if (opts.shardMinRows !== undefined) threadOpts.shardMinRows = opts.shardMinRows;
  const sessions = new Map<string, SessionRecord>();

  async function closeSession(rec: SessionRecord): Promise<void> {
    sessions.delete(rec.id);
    rec.sub.unsubscribe();
    if (rec.ready) await rec.ready.then((s) => s.close(), () => {});
    log(`dynamic session ${rec.id} closed`);
  }

  function startInit(rec: SessionRecord, Q: Float64Array, K: Float64Array, V: Float64Array): Promise<ThreadDynamicSession> {
    rec.buffers = null;
    rec.ready = openDynamicSession(Q, K, V, rec.n, rec.d, { ...rec.opts, ...threadOpts });
    rec.ready.catch(() => { rec.ready = null; });
    return rec.ready;
  }

  async function need(rec: SessionRecord): Promise<ThreadDynamicSession> {
    if (!rec.ready) throw new AttnfitError(ErrorCodes.NOT_FOUND, `dynamic session ${rec.id}: not initialised (send Q, K, V first)`);
    return rec.ready;
  }

  async function handleSession(rec: SessionRecord, op: DynSessionOp, b: Rec): Promise<unknown> {
    switch (op) {
      case 'load': {
        if (!rec.buffers) throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic session ${rec.id}: load after init`);
        const t = b.tensor, off = b.offset, data = b.data;
        if (t !== 'Q' && t !== 'K' && t !== 'V') throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic load: tensor must be Q, K or V (got ${String(t)})`);
        if (!(data instanceof Float64Array)) throw new AttnfitError(ErrorCodes.PROTOCOL, 'dynamic load: data must be a Float64Array');
        const buf = rec.buffers[t];
        if (typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0 || off + data.length > buf.length) {
          throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic load: offset ${String(off)} + ${data.length} outside ${t} (length ${buf.length})`);
        }
        buf.set(data, off);
        return null;
      }
      case 'init': {
        if (!rec.buffers) throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic session ${rec.id}: already initialised`);
        const { Q, K, V } = rec.buffers;
        return (await startInit(rec, Q, K, V)).stats();
      }
      case 'update': return (await need(rec)).apply([b as unknown as DynamicOp]).then(() => null);
      case 'query': return (await need(rec)).query(b.i as number, b.j as number);
      case 'queryRow': return (await need(rec)).queryRow(b.i as number);
      case 'stats': return (await need(rec)).stats();
      case 'rebuild': return (await need(rec)).rebuild({ full: !!b.full }).then(() => null);
      case 'apply': {
        if (!Array.isArray(b.ops)) throw new AttnfitError(ErrorCodes.BAD_OP, 'ops: must be an array');
        return (await need(rec)).apply(b.ops as DynamicOp[]);
      }
      case 'close': await closeSession(rec); return null;
    }
  }

  const openSub = nc.subscribe(DYN_OPEN_SUBJECT, {
    queue: DYN_QUEUE,
    callback: (err, msg) => {
      if (err) return;
      reply(msg, async () => {
        const b = bodyOf(msg);
        if (b.v !== DYN_WIRE_VERSION) throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic open: unsupported version ${String(b.v)} (expected ${DYN_WIRE_VERSION})`);
        if (sessions.size >= maxSessions) throw new AttnfitError(ErrorCodes.INTERNAL, `dynamic service: session limit ${maxSessions} reached`, { retryable: true });
        const n = posInt(b, 'n'), d = posInt(b, 'd');
        const rawOpts = (b.opts && typeof b.opts === 'object' ? b.opts : {}) as Rec;
        const sessOpts: DynamicOptions = {};
        for (const k of ['tau', 'threshold', 'mode', 'errTol', 'snapshotMaxBytes'] as const) {
          if (rawOpts[k] !== undefined && rawOpts[k] !== null) (sessOpts as Rec)[k] = rawOpts[k];
        }
        const id = randomBytes(8).toString('hex');
        const rec: SessionRecord = { id, n, d, opts: sessOpts, sub: null as unknown as Subscription, buffers: null, ready: null };
        rec.sub = nc.subscribe(dynSessionSubject(id, '*'), {
          callback: (e, m) => {
            if (e) return;
            const op = m.subject.slice(m.subject.lastIndexOf('.') + 1) as DynSessionOp;
            reply(m, async () => {
              if (!(DYN_SESSION_OPS as readonly string[]).includes(op)) throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic session: unknown op ${JSON.stringify(op)}`);
              return handleSession(rec, op, bodyOf(m));
            });
          },
        });
        sessions.set(id, rec);
        log(`dynamic session ${id} opened (n=${n}, d=${d})`);
        if (b.Q instanceof Float64Array && b.K instanceof Float64Array && b.V instanceof Float64Array) {
          try {
            const s = await startInit(rec, b.Q, b.K, b.V);
            return { session: id, stats: await s.stats() };
          } catch (e) {
            await closeSession(rec);
            throw e;
          }
        }
        rec.buffers = { Q: new Float64Array(n * d), K: new Float64Array(n * d), V: new Float64Array(n * d) };
        return { session: id };
      });
    },
  });
  await nc.flush();

  return {
    sessions: () => [...sessions.keys()],
    async stop() {
      await openSub.drain();
      for (const rec of [...sessions.values()]) await closeSession(rec);
    },
  };
}
