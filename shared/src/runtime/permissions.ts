/**
 * NATS permission violations as attnfit errors. nats.js v3 reports a server `-ERR 'Permissions
 * Violation for Publish to "S"'` (or `Subscription to "S"`) in two ways: a request on that subject
 * rejects with a PermissionViolationError, and every violation is an `error` event on the
 * connection's status iterator — a plain publish has no other trace (the message is dropped).
 * {@link watchPermissions} turns the events into AUTH errors naming the subject and the user and
 * hands them to listeners ({@link onPermissionViolation}), so a command fails at once instead of
 * waiting for a reply that never comes.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { AttnfitError, ErrorCodes } from '../core/index.js';

/** A permission violation as nats.js reports it (PermissionViolationError fields). */
interface ViolationLike {
  operation: 'publish' | 'subscription';
  subject: string;
  queue?: string;
}

type Listener = (e: AttnfitError) => void;

interface Watch {
  user: string | undefined;
  listeners: Set<Listener>;
  first: AttnfitError | undefined;
}

const watches = new WeakMap<NatsConnection, Watch>();

function violationOf(err: unknown): ViolationLike | undefined {
  for (
    let e = err as { operation?: unknown; subject?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if ((e.operation === 'publish' || e.operation === 'subscription') && typeof e.subject === 'string')
      return e as ViolationLike;
    const m = /Permissions Violation for (Publish|Subscription) to "?([^"\s]+)"?/i.exec(
      String((e as Error).message ?? ''),
    );
    if (m) return { operation: m[1]!.toLowerCase() === 'publish' ? 'publish' : 'subscription', subject: m[2]! };
  }
  return undefined;
}

/** The AUTH error of a violation: names the action, the subject and the user. */
function authError(v: ViolationLike, user: string | undefined, cause: unknown): AttnfitError {
  const who = user === undefined ? 'this connection (no user)' : `user ${JSON.stringify(user)}`;
  const what = v.operation === 'publish' ? 'publish to' : 'subscribe to';
  return new AttnfitError(
    ErrorCodes.AUTH,
    `nats: ${who} is not allowed to ${what} ${JSON.stringify(v.subject)} (server permissions; check the user's role in the server's authorization config)`,
    { cause, details: { subject: v.subject, operation: v.operation, user } },
  );
}

/**
 * Start watching `nc` for permission violations (once per connection; `user` names the
 * credentials in messages). Called by connectNats.
 */
export function watchPermissions(nc: NatsConnection, user: string | undefined): void {
  if (watches.has(nc)) return;
  const w: Watch = { user, listeners: new Set(), first: undefined };
  watches.set(nc, w);
  void (async () => {
    try {
      for await (const s of nc.status()) {
        if (s.type !== 'error') continue;
        const v = violationOf((s as { error?: unknown }).error);
        if (!v) continue;
        const e = authError(v, w.user, (s as { error?: unknown }).error);
        w.first ??= e;
        for (const l of [...w.listeners]) l(e);
      }
    } catch {
      // The iterator ends with the connection.
    }
  })();
}

/** Call `fn` with every later permission violation on `nc`; returns the unsubscribe function. */
export function onPermissionViolation(nc: NatsConnection, fn: Listener): () => void {
  const w = watches.get(nc);
  if (!w) return () => {};
  w.listeners.add(fn);
  return () => {
    w.listeners.delete(fn);
  };
}

/** The first permission violation seen on `nc`, if any. */
export function firstPermissionViolation(nc: NatsConnection): AttnfitError | undefined {
  return watches.get(nc)?.first;
}

/**
 * An AUTH error naming the subject and the user when `err` is (or was caused by) a permission
 * violation on `nc`; undefined otherwise.
 */
export function permissionError(err: unknown, nc?: NatsConnection): AttnfitError | undefined {
  if (err instanceof AttnfitError && err.code === ErrorCodes.AUTH) return err;
  const v = violationOf(err);
  return v ? authError(v, nc ? watches.get(nc)?.user : undefined, err) : undefined;
}

/**
 * Run `work` until it settles or a permission violation happens on `nc`, whichever is first
 * (then reject with the AUTH error). For one-shot commands: a violation means the command
 * cannot succeed, and without this it would wait for a reply that never comes.
 */
export function failOnPermissionViolation<T>(nc: NatsConnection, work: Promise<T>): Promise<T> {
  let off = (): void => {};
  const violated = new Promise<never>((_, reject) => {
    const seen = firstPermissionViolation(nc);
    if (seen) {
      reject(seen);
      return;
    }
    off = onPermissionViolation(nc, reject);
  });
  violated.catch(() => undefined);
  return Promise.race([work, violated]).finally(() => off());
}
