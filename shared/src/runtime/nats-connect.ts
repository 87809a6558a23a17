/**
 * Connect to NATS with attnfit's auth options and map connection failures to AttnfitError
 * (AUTH for refused credentials → CLI exit 2; CONNECTION otherwise). Used by the worker service
 * and by every coordinator-side client (one implementation in the shared runtime layer).
 */
import { readFileSync, statSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { readEnv } from '../config/index.js';
import { AttnfitError, ErrorCodes } from '../core/index.js';
import { watchPermissions } from './permissions.js';

/** How to reach and authenticate to NATS. */
export interface NatsAuthOptions {
  /** Server URL(s), e.g. nats://127.0.0.1:4222. */
  servers: string | string[];
  user?: string;
  pass?: string;
  /** Path of a .creds file (JWT + nkey seed). */
  credsFile?: string;
  /** Token (no user/pass/creds). */
  token?: string;
  /** Client name shown by the server's monitoring. */
  name?: string;
}

/**
 * Connect (rejects, never throws synchronously). Credentials not given fall back to the
 * environment: ATTNFIT_NATS_CREDS (unless `user` is given), else ATTNFIT_NATS_USER /
 * ATTNFIT_NATS_PASS (docs/environment.md); a creds file wins over a user.
 * @example const nc = await connectNats({ servers: 'nats://127.0.0.1:4222', user: 'worker', pass: 's3cret' });
 */
export async function connectNats(o: NatsAuthOptions): Promise<NatsConnection> {
  const opts: NodeConnectionOptions = { servers: o.servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 };
  if (o.name) opts.name = o.name;
  const envCreds =
    o.credsFile === undefined && o.user === undefined && o.token === undefined ? readEnv('natsCreds') : undefined;
  const credsFile = o.credsFile ?? envCreds;
  const user = o.user ?? (credsFile === undefined && o.token === undefined ? readEnv('natsUser') : undefined);
  const pass = o.pass ?? readEnv('natsPass');
  if (credsFile) {
    let creds: Uint8Array;
    try {
      // A FIFO or a device would block this (synchronous) read forever: regular files only.
      const st = statSync(credsFile);
      if (!st.isFile())
        throw new AttnfitError(
          ErrorCodes.BAD_FILE,
          `${envCreds === undefined ? '--creds' : 'ATTNFIT_NATS_CREDS'} ${credsFile}: not a regular file`,
        );
      creds = readFileSync(credsFile);
    } catch (err) {
      if (err instanceof AttnfitError) throw err;
      const field = envCreds === undefined ? '--creds' : 'ATTNFIT_NATS_CREDS';
      const missing = (err as NodeJS.ErrnoException)?.code === 'ENOENT';
      throw new AttnfitError(
        missing ? ErrorCodes.FILE_NOT_FOUND : ErrorCodes.BAD_FILE,
        `${field}: cannot read ${JSON.stringify(credsFile)} (${(err as NodeJS.ErrnoException)?.code ?? 'error'})`,
        { cause: err, details: { field, value: credsFile } },
      );
    }
    opts.authenticator = credsAuthenticator(creds);
  } else if (user !== undefined) {
    opts.user = user;
    opts.pass = pass ?? '';
    const prefix = inboxPrefixFor(user);
    if (prefix) opts.inboxPrefix = prefix;
  } else if (o.token !== undefined) {
    opts.token = o.token;
  }
  // An empty password is refused before connecting: a server whose ATTNFIT_*_PASS is empty
  // would otherwise accept it, and nobody should rely on that.
  if (opts.pass === '' && opts.user !== undefined) {
    const field = o.pass !== undefined ? '--pass' : 'ATTNFIT_NATS_PASS';
    throw new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `${field}: empty or missing password for user ${JSON.stringify(opts.user)} (got ""): give --pass or ATTNFIT_NATS_PASS; attnfit never connects with an empty password`,
      { details: { field, value: '', user: opts.user } },
    );
  }
  let nc: NatsConnection;
  try {
    nc = await connect(opts);
  } catch (err) {
    throw mapConnectError(err, o.servers, user);
  }
  watchPermissions(nc, credsFile ? undefined : user);
  return nc;
}

/**
 * The reply-inbox prefix of a user: `_INBOX_<user>` (deploy/auth.conf lets each role subscribe
 * only to its own prefix, so one credential cannot read replies meant for another); undefined
 * (nats.js's `_INBOX`) for a user name that is not a plain subject token.
 * @example inboxPrefixFor('worker') // '_INBOX_worker'
 */
export function inboxPrefixFor(user: string): string | undefined {
  return /^[A-Za-z0-9_-]+$/.test(user) ? `_INBOX_${user}` : undefined;
}

/** Map a @nats-io connect error to an AttnfitError. */
export function mapConnectError(err: unknown, servers: string | string[], user: string | undefined): AttnfitError {
  const e = err as Error & { code?: string };
  const where = Array.isArray(servers) ? servers.join(',') : servers;
  const text = `${e?.name ?? ''} ${e?.message ?? String(err)}`;
  if (/Authorization|authentication|auth/i.test(text)) {
    return new AttnfitError(
      ErrorCodes.AUTH,
      `nats ${where}: credentials refused${user ? ` for user ${JSON.stringify(user)}` : ''} (${e?.message ?? String(err)})`,
      { cause: err, details: { servers: where, user } },
    );
  }
  return new AttnfitError(ErrorCodes.CONNECTION, `nats ${where}: cannot connect (${e?.message ?? String(err)})`, {
    cause: err,
    retryable: true,
    details: { servers: where },
  });
}
