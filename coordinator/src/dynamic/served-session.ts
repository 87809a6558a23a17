/**
 * One dynamic session held by the NATS dynamic service: its subscription to
 * `attnfit.dyn.<id>.*`, the Q/K/V upload buffers until `init`, then the worker-thread session
 * ({@link openDynamicSession}) that answers every operation. Also the request helpers shared with
 * the service's open handler: msgpack bodies in, `{ ok, value | error }` replies out (handlers
 * never throw: every outcome is a reply).
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes, errorToWire } from '@attnfit/shared/core';
import type { DynamicOp, DynamicOptions } from '@attnfit/shared/dynamic';
import { decodeRaw, encode } from '@attnfit/shared/protocol';
import { openDynamicSession, type DynamicSessionOptions, type ThreadDynamicSession } from './thread-session.js';
import { DYN_SESSION_OPS, dynSessionSubject, type DynSessionOp } from './wire.js';

/** A decoded request body. */
export type RequestBody = Record<string, unknown>;

/** The msgpack map of a request (an empty body is `{}`); PROTOCOL otherwise. */
export function bodyOf(msg: Msg): RequestBody {
  const v = msg.data.length ? decodeRaw(msg.data) : {};
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new AttnfitError(ErrorCodes.PROTOCOL, 'dynamic request: body must be a msgpack map');
  return v as RequestBody;
}

/** Field `f` of an open request as an integer ≥ 1; PROTOCOL naming the field otherwise. */
export function posInt(o: RequestBody, f: string): number {
  const v = o[f];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic open: ${f} must be an integer >= 1 (got ${String(v)})`);
  return v;
}

/**
 * Answer `msg` with the outcome of `run`: `{ ok: true, value }` or `{ ok: false, error }`. A
 * synchronous throw of `run` (e.g. a body that is not a map) is a rejection too: a handler never
 * throws into the subscription callback, whose exception would end the subscription.
 */
export function reply(msg: Msg, run: () => Promise<unknown>): void {
  Promise.resolve()
    .then(run)
    .then(
      (value) => {
        msg.respond(encode({ ok: true, value: value ?? null }));
      },
      (err) => {
        msg.respond(encode({ ok: false, error: errorToWire(err) }));
      },
    );
}

/** A session held by this service instance. */
export class ServedSession {
  private readonly sub: Subscription;
  /** Q, K, V being uploaded with `load` (null once init started). */
  private buffers: { Q: Float64Array; K: Float64Array; V: Float64Array } | null = null;
  private ready: Promise<ThreadDynamicSession> | null = null;

  /**
   * Subscribe the session's subjects and enter `registry` (the service's sessions); the session
   * leaves it when the client (or the service) closes it.
   * @param threadOpts thread-level options of every session of the service (sharded rebuilds)
   */
  constructor(
    nc: NatsConnection,
    readonly id: string,
    readonly n: number,
    readonly d: number,
    private readonly opts: DynamicOptions,
    private readonly threadOpts: DynamicSessionOptions,
    private readonly registry: Map<string, ServedSession>,
    private readonly log: (line: string) => void,
  ) {
    this.sub = nc.subscribe(dynSessionSubject(id, '*'), {
      callback: (e, m) => {
        if (e) return;
        const op = m.subject.slice(m.subject.lastIndexOf('.') + 1) as DynSessionOp;
        reply(m, async () => {
          if (!(DYN_SESSION_OPS as readonly string[]).includes(op))
            throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic session: unknown op ${JSON.stringify(op)}`);
          return this.handle(op, bodyOf(m));
        });
      },
    });
    registry.set(id, this);
    log(`dynamic session ${id} opened (n=${n}, d=${d})`);
  }

  /** Expect Q, K, V by `load` chunks, then `init`. */
  awaitUpload(): void {
    const nd = this.n * this.d;
    this.buffers = { Q: new Float64Array(nd), K: new Float64Array(nd), V: new Float64Array(nd) };
  }

  /** Start the session's thread on Q, K, V. */
  init(Q: Float64Array, K: Float64Array, V: Float64Array): Promise<ThreadDynamicSession> {
    this.buffers = null;
    this.ready = openDynamicSession(Q, K, V, this.n, this.d, { ...this.opts, ...this.threadOpts });
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  /** Leave the registry, unsubscribe, end the session's thread. */
  async close(): Promise<void> {
    this.registry.delete(this.id);
    this.sub.unsubscribe();
    if (this.ready)
      await this.ready.then(
        (s) => s.close(),
        () => {},
      );
    this.log(`dynamic session ${this.id} closed`);
  }

  private async need(): Promise<ThreadDynamicSession> {
    if (!this.ready)
      throw new AttnfitError(ErrorCodes.NOT_FOUND, `dynamic session ${this.id}: not initialised (send Q, K, V first)`);
    return this.ready;
  }

  private async handle(op: DynSessionOp, b: RequestBody): Promise<unknown> {
    switch (op) {
      case 'load':
        this.load(b);
        return null;
      case 'init': {
        if (!this.buffers)
          throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic session ${this.id}: already initialised`);
        const { Q, K, V } = this.buffers;
        return (await this.init(Q, K, V)).stats();
      }
      case 'update':
        return (await this.need()).apply([b as unknown as DynamicOp]).then(() => null);
      case 'query':
        return (await this.need()).query(b.i as number, b.j as number);
      case 'queryRow':
        return (await this.need()).queryRow(b.i as number);
      case 'stats':
        return (await this.need()).stats();
      case 'rebuild':
        return (await this.need()).rebuild({ full: !!b.full }).then(() => null);
      case 'apply': {
        if (!Array.isArray(b.ops)) throw new AttnfitError(ErrorCodes.BAD_OP, 'ops: must be an array');
        return (await this.need()).apply(b.ops as DynamicOp[]);
      }
      case 'close':
        await this.close();
        return null;
    }
  }

  /** Copy one uploaded chunk of Q, K or V into place. */
  private load(b: RequestBody): void {
    if (!this.buffers) throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic session ${this.id}: load after init`);
    const t = b.tensor,
      off = b.offset,
      data = b.data;
    if (t !== 'Q' && t !== 'K' && t !== 'V')
      throw new AttnfitError(ErrorCodes.PROTOCOL, `dynamic load: tensor must be Q, K or V (got ${String(t)})`);
    if (!(data instanceof Float64Array))
      throw new AttnfitError(ErrorCodes.PROTOCOL, 'dynamic load: data must be a Float64Array');
    const buf = this.buffers[t];
    if (typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0 || off + data.length > buf.length) {
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `dynamic load: offset ${String(off)} + ${data.length} outside ${t} (length ${buf.length})`,
      );
    }
    buf.set(data, off);
  }
}
