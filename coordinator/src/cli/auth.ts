/**
 * NATS connection flags of the CLI: `--nats URL` (repeatable or comma-separated) and auth
 * (`--user U --pass P`, `--creds FILE`, or env ATTNFIT_NATS_USER / ATTNFIT_NATS_PASS). Used by
 * every cluster command and by `attnfit solve --nats`; loads no NATS client code itself.
 */
import type { Command } from 'commander';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import type { NatsAuthOptions } from '@attnfit/shared/runtime';
import { collect } from './options.js';

/** Auth flags shared by every cluster command. */
export interface AuthFlags { nats?: string[]; user?: string; pass?: string; creds?: string }

/** Add --nats / --user / --pass / --creds to a command (used by every cluster command and `solve --nats`). */
export function withAuth(c: Command): Command {
  return c
    .option('--nats <url>', 'NATS server URL (repeatable, or comma-separated)', collect)
    .option('--user <name>', 'NATS user (or env ATTNFIT_NATS_USER)')
    .option('--pass <password>', 'NATS password (or env ATTNFIT_NATS_PASS)')
    .option('--creds <file>', 'NATS .creds file (JWT + nkey)');
}

/** Flags → connection options; USAGE naming --nats when it is missing or malformed. */
export function authOptions(f: AuthFlags): NatsAuthOptions {
  const urls = (f.nats ?? []).flatMap((u) => u.split(',')).map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new AttnfitError(ErrorCodes.USAGE, '--nats: a NATS server URL is required (e.g. --nats nats://127.0.0.1:4222)', { details: { field: '--nats' } });
  for (const u of urls) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+(:\d+)?\/?$|^[^\s:/]+:\d+$/.test(u)) {
      throw new AttnfitError(ErrorCodes.BAD_OPTION, `--nats: not a NATS URL (got ${JSON.stringify(u)})`, { details: { field: '--nats', value: u } });
    }
  }
  const o: NatsAuthOptions = { servers: urls.length === 1 ? urls[0]! : urls };
  if (f.user !== undefined) o.user = f.user;
  if (f.pass !== undefined) o.pass = f.pass;
  if (f.creds !== undefined) o.credsFile = f.creds;
  return o;
}
