/**
 * Client of the NATS dynamic-session service: the same async methods as the in-process
 * structure, each one request/reply. Tensors larger than the server's max_payload are
 * uploaded in chunks (`load`) before `init`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import type { DynamicOp, DynamicOptions, DynamicStats } from '@attnfit/shared/dynamic';
import { decodeRaw, encode } from '@attnfit/shared/protocol';
import { RemoteDynamicSession, unwrapReply } from './session-base.js';
import type { DynamicReply } from './types.js';
import { DYN_OPEN_SUBJECT, DYN_WIRE_VERSION, dynSessionSubject, type DynSessionOp } from './wire.js';

export interface NatsDynamicOptions {
  /** Per-request timeout (ms). Default 30 000. */
  timeoutMs?: number;
  /** Timeout of the open/init request, which builds the structure (O(n²d)). Default 300 000. */
  initTimeoutMs?: number;
}

function isNamed(err: unknown, name: string): boolean {
  for (let e: unknown = err, k = 0; e && k < 5; e = (e as { cause?: unknown }).cause, k++) {
    if ((e as Error).name === name || (e as Error).constructor?.name === name) return true;
  }
  return false;
}

async function request(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<DynamicReply> {
  // The timeout error is created here so its stack names the caller.
  const timeoutErr = new AttnfitError(
    ErrorCodes.TIMEOUT,
    `dynamic session request ${subject}: no reply within ${timeoutMs} ms`,
    { retryable: true },
  );
  try {
    const msg = await nc.request(subject, encode(body), { timeout: timeoutMs });
    return decodeRaw(msg.data) as DynamicReply;
  } catch (err) {
    if (err instanceof AttnfitError) throw err;
    if (isNamed(err, 'TimeoutError')) {
      (timeoutErr as { cause?: unknown }).cause = err;
      throw timeoutErr;
    }
    if (isNamed(err, 'NoRespondersError') || (err as { isNoResponders?: () => boolean }).isNoResponders?.()) {
      throw new AttnfitError(
        ErrorCodes.NOT_FOUND,
        `dynamic session request ${subject}: no service is answering (is \`attnfit dynamic serve\` running, is the session open?)`,
        { cause: err },
      );
    }
    throw new AttnfitError(ErrorCodes.CONNECTION, `dynamic session request ${subject}: ${(err as Error).message}`, {
      cause: err,
      retryable: true,
    });
  }
}

/** A session held by a remote `attnfit dynamic serve`. Create with {@link openNatsDynamicSession}. */
export class NatsDynamicSession extends RemoteDynamicSession {
  private closed = false;
  /** @internal */
  constructor(
    private readonly nc: NatsConnection,
    readonly id: string,
    readonly n: number,
    readonly d: number,
    private readonly timeoutMs: number,
  ) {
    super();
  }

  private req(op: DynSessionOp, body: unknown, timeoutMs = this.timeoutMs): Promise<DynamicReply> {
    if (this.closed)
      return Promise.reject(new AttnfitError(ErrorCodes.NOT_FOUND, `dynamic session ${this.id}: already closed`));
    return request(this.nc, dynSessionSubject(this.id, op), body, timeoutMs);
  }

  protected send(method: string, args: unknown[]): Promise<DynamicReply> {
    switch (method) {
      case 'query':
        return this.req('query', { i: args[0], j: args[1] });
      case 'queryRow':
        return this.req('queryRow', { i: args[0] });
      case 'stats':
        return this.req('stats', {});
      case 'rebuild':
        return this.req('rebuild', args[0] ?? {});
      case 'updateKRow':
      case 'updateVRow':
        return this.req('update', { op: method, i: args[0], delta: args[1] });
      default:
        return this.req('update', { op: method, i: args[0], j: args[1], delta: args[2] });
    }
  }

  protected sendApply(ops: readonly DynamicOp[]): Promise<DynamicReply> {
    return this.req('apply', { ops });
  }

  /** @internal */
  async upload(
    Q: Float64Array,
    K: Float64Array,
    V: Float64Array,
    chunkElems: number,
    initTimeoutMs: number,
  ): Promise<DynamicStats> {
    for (const [name, a] of [
      ['Q', Q],
      ['K', K],
      ['V', V],
    ] as const) {
      for (let off = 0; off < a.length; off += chunkElems) {
        unwrapReply(
          await this.req('load', {
            tensor: name,
            offset: off,
            data: a.subarray(off, Math.min(a.length, off + chunkElems)),
          }),
        );
      }
    }
    return unwrapReply(await this.req('init', {}, initTimeoutMs)) as DynamicStats;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const r = await this.req('close', {});
    this.closed = true;
    unwrapReply(r);
  }
}

/**
 * Open a session on a remote dynamic service and build the structure there.
 * @example
 * const s = await openNatsDynamicSession(nc, Q, K, V, n, d, { tau: 0.5 });
 * await s.updateV(2, 0, 1.5); const y = await s.query(1, 0); await s.close();
 */
export async function openNatsDynamicSession(
  nc: NatsConnection,
  Q: Float64Array,
  K: Float64Array,
  V: Float64Array,
  n: number,
  d: number,
  opts: DynamicOptions = {},
  net: NatsDynamicOptions = {},
): Promise<NatsDynamicSession> {
  const timeoutMs = net.timeoutMs ?? 30_000,
    initTimeoutMs = net.initTimeoutMs ?? 300_000;
  for (const [name, a] of [
    ['Q', Q],
    ['K', K],
    ['V', V],
  ] as const) {
    if (!(a instanceof Float64Array) || a.length !== n * d)
      throw new AttnfitError(
        ErrorCodes.SHAPE_MISMATCH,
        `${name}: must be a Float64Array of length n*d = ${n * d} (got ${a?.length})`,
      );
  }
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  const budget = maxPayload - 4096;
  const inline = 3 * 8 * n * d <= budget;
  const body: Record<string, unknown> = { v: DYN_WIRE_VERSION, n, d, opts };
  if (inline) {
    body.Q = Q;
    body.K = K;
    body.V = V;
  }
  const opened = unwrapReply(await request(nc, DYN_OPEN_SUBJECT, body, inline ? initTimeoutMs : timeoutMs)) as {
    session: string;
  };
  const s = new NatsDynamicSession(nc, opened.session, n, d, timeoutMs);
  if (!inline) {
    try {
      await s.upload(Q, K, V, Math.max(1, Math.floor(budget / 8)), initTimeoutMs);
    } catch (e) {
      await s.close().catch(() => {});
      throw e;
    }
  }
  return s;
}
