/**
 * NATS dynamic-session service (`attnfit dynamic serve --nats URL`). Each session lives in its
 * own worker thread ({@link openDynamicSession}), so the event loop that owns the NATS
 * connection never runs a rebuild. Opens go to the queue group (any service instance may take
 * a session); the session's own subjects are subscribed only by the instance holding it.
 * Handlers never throw: every outcome is a reply, errors via errorToWire. Each held session is
 * a {@link ServedSession}; stop() runs the shared {@link Shutdown} sequence.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import type { DynamicOptions } from '@attnfit/shared/dynamic';
import { Shutdown, permissionError } from '@attnfit/shared/runtime';
import type { DynamicSessionOptions } from './thread-session.js';
import { ServedSession, bodyOf, posInt, reply, type RequestBody } from './served-session.js';
import { DYN_OPEN_SUBJECT, DYN_QUEUE, DYN_WIRE_VERSION } from './wire.js';

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
  /** Stop taking opens (drain the open subscription), close every session and its thread. Idempotent. */
  stop(): Promise<void>;
}

/** The fields of `opts` in an open request that are passed on to the structure. */
const OPEN_OPTION_KEYS = ['tau', 'threshold', 'mode', 'errTol', 'snapshotMaxBytes'] as const;

/**
 * Start serving dynamic sessions on a connected NATS client. Resolves once the open
 * subscription is registered with the server. The caller keeps owning `nc` (and drains it after
 * {@link DynamicServiceHandle.stop}).
 * @example const svc = await startDynamicService(nc); … await svc.stop();
 */
export async function startDynamicService(
  nc: NatsConnection,
  opts: DynamicServiceOptions = {},
): Promise<DynamicServiceHandle> {
  const maxSessions = opts.maxSessions ?? 64;
  const log = opts.log ?? (() => {});
  const threadOpts: DynamicSessionOptions = {};
  if (opts.rebuildThreads !== undefined) threadOpts.rebuildThreads = opts.rebuildThreads;
  if (opts.shardMinRows !== undefined) threadOpts.shardMinRows = opts.shardMinRows;
  const sessions = new Map<string, ServedSession>();

  /** Answer one open request: a new session, initialised now when Q, K, V came with it. */
  async function open(b: RequestBody): Promise<unknown> {
    if (b.v !== DYN_WIRE_VERSION)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `dynamic open: unsupported version ${String(b.v)} (expected ${DYN_WIRE_VERSION})`,
      );
    if (sessions.size >= maxSessions)
      throw new AttnfitError(ErrorCodes.INTERNAL, `dynamic service: session limit ${maxSessions} reached`, {
        retryable: true,
      });
    const n = posInt(b, 'n'),
      d = posInt(b, 'd');
    const rawOpts = (b.opts && typeof b.opts === 'object' ? b.opts : {}) as RequestBody;
    const sessOpts: DynamicOptions = {};
    for (const k of OPEN_OPTION_KEYS) {
      if (rawOpts[k] !== undefined && rawOpts[k] !== null) (sessOpts as RequestBody)[k] = rawOpts[k];
    }
    const s = new ServedSession(nc, randomBytes(8).toString('hex'), n, d, sessOpts, threadOpts, sessions, log);
    if (b.Q instanceof Float64Array && b.K instanceof Float64Array && b.V instanceof Float64Array) {
      try {
        return { session: s.id, stats: await (await s.init(b.Q, b.K, b.V)).stats() };
      } catch (e) {
        await s.close();
        throw e;
      }
    }
    s.awaitUpload();
    return { session: s.id };
  }

  let subError: Error | undefined;
  const openSub = nc.subscribe(DYN_OPEN_SUBJECT, {
    queue: DYN_QUEUE,
    callback: (err, msg) => {
      if (err) {
        subError ??= err;
        return;
      }
      reply(msg, () => open(bodyOf(msg)));
    },
  });
  await nc.flush();
  // The server answers a forbidden SUB with -ERR before the flush's PONG: a service that can
  // never receive an open fails now with AUTH naming the subject and the user.
  if (subError)
    throw (
      permissionError(subError, nc) ??
      new AttnfitError(
        ErrorCodes.AUTH,
        `dynamic service: cannot subscribe to ${DYN_OPEN_SUBJECT} (${subError.message})`,
        { cause: subError },
      )
    );

  // Sessions live in their threads: "settle" closes them (their state is not handed over).
  const shutdown = new Shutdown(
    'attnfit dynamic',
    {
      stopIntake: () => openSub.drain(),
      settle: async () => {
        for (const s of [...sessions.values()]) await s.close();
      },
    },
    { log },
  );
  return { sessions: () => [...sessions.keys()], stop: () => shutdown.run() };
}
