/**
 * How CLI commands find NATS (docs/environment.md, "Connection"). The server URL comes from, in
 * order: the `--nats` flag, env ATTNFIT_NATS_URL, the context file `context.json` that
 * `attnfit cluster up` writes into its state directory (`--dir`, default ATTNFIT_CLUSTER_DIR or
 * `.attnfit-cluster` in the current directory). Credentials: `--user/--pass/--creds`, else env
 * ATTNFIT_NATS_USER / _PASS / _CREDS (applied by connectNats); the context holds none.
 */
import type { Command } from 'commander';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseNatsUrls, readEnv } from '@attnfit/shared/config';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { writeJsonAtomic } from '@attnfit/shared/io';
import type { NatsAuthOptions } from '@attnfit/shared/runtime';

/** Auth flags shared by every cluster command (`nats: true` is a bare `solve --nats`). */
export interface AuthFlags {
  nats?: string[] | true;
  user?: string;
  pass?: string;
  creds?: string;
}

/** Name of the context file in a `cluster up` state directory. */
export const CONTEXT_FILE = 'context.json';

/** What `cluster up` leaves for later commands in the same directory. */
export interface ClusterContext {
  /** Format version of this file. */
  version: 1;
  /** NATS server URL of the cluster. */
  url: string;
  /** Absolute state directory (pids.json, logs/). */
  dir: string;
  /** When the cluster was started (ISO-8601). */
  startedAt: string;
}

/**
 * Add --nats / --user / --pass / --creds to a command (used by every cluster command and
 * `solve`). With `bareNats` (solve) `--nats` may come without a URL: the URL is then taken from
 * ATTNFIT_NATS_URL or the cluster context, and without `--nats` the command runs locally.
 */
export function withAuth(c: Command, o: { bareNats?: boolean } = {}): Command {
  const where = 'env ATTNFIT_NATS_URL, then the `cluster up` context';
  return c
    .option(
      o.bareNats ? '--nats [url]' : '--nats <url>',
      o.bareNats
        ? `evaluate on the NATS cluster at URL (repeatable, or comma-separated; bare --nats: ${where})`
        : `NATS server URL (repeatable, or comma-separated; default: ${where})`,
      collectUrl,
    )
    .option('--user <name>', 'NATS user (or env ATTNFIT_NATS_USER)')
    .option('--pass <password>', 'NATS password (or env ATTNFIT_NATS_PASS)')
    .option('--creds <file>', 'NATS .creds file (JWT + nkey) (or env ATTNFIT_NATS_CREDS)');
}

/** Repeatable --nats (a bare `--nats` before a URL leaves `true` behind: dropped). */
function collectUrl(v: string, prev: string[] | true | undefined): string[] {
  return [...(Array.isArray(prev) ? prev : []), v];
}

function contextPath(dir: string): string {
  return resolve(dir, CONTEXT_FILE);
}

/**
 * The context `cluster up` wrote into `dir` (default: ATTNFIT_CLUSTER_DIR, else
 * `.attnfit-cluster`), or undefined when there is none. A malformed file is BAD_FILE naming it.
 */
export function readClusterContext(dir: string = readEnv('clusterDir')): ClusterContext | undefined {
  const path = contextPath(dir);
  if (!existsSync(path)) return undefined;
  let ctx: Partial<ClusterContext>;
  try {
    ctx = JSON.parse(readFileSync(path, 'utf8')) as Partial<ClusterContext>;
  } catch (err) {
    throw new AttnfitError(
      ErrorCodes.BAD_FILE,
      `${path}: not a cluster context (${(err as Error).message}); remove it or run \`attnfit cluster up\` again`,
      { cause: err, details: { file: path } },
    );
  }
  const urls = typeof ctx?.url === 'string' ? parseNatsUrls(ctx.url) : { bad: ctx?.url };
  if (ctx?.version !== 1 || 'bad' in urls || urls.urls.length === 0) {
    throw new AttnfitError(
      ErrorCodes.BAD_FILE,
      `${path}: not a cluster context (needs "version": 1 and a NATS "url"); remove it or run \`attnfit cluster up\` again`,
      { details: { file: path } },
    );
  }
  return ctx as ClusterContext;
}

/** Write the context of a started cluster into its state directory (atomically). */
export async function writeClusterContext(dir: string, url: string): Promise<ClusterContext> {
  const ctx: ClusterContext = { version: 1, url, dir: resolve(dir), startedAt: new Date().toISOString() };
  await writeJsonAtomic(join(resolve(dir), CONTEXT_FILE), ctx);
  return ctx;
}

/** Remove the context of a stopped cluster (no error when there is none). */
export function removeClusterContext(dir: string): void {
  rmSync(contextPath(dir), { force: true });
}

/**
 * The NATS server URLs a command uses and where they came from: `--nats` > ATTNFIT_NATS_URL >
 * the cluster context. Undefined when none of them names a server. A malformed `--nats` is
 * BAD_OPTION naming --nats; a malformed variable, BAD_OPTION naming the variable.
 */
export function resolveServers(f: Pick<AuthFlags, 'nats'>): { urls: string[]; source: string } | undefined {
  if (Array.isArray(f.nats) && f.nats.length > 0) {
    const r = parseNatsUrls(f.nats.join(','));
    if ('bad' in r)
      throw new AttnfitError(ErrorCodes.BAD_OPTION, `--nats: not a NATS URL (got ${JSON.stringify(r.bad)})`, {
        details: { field: '--nats', value: r.bad },
      });
    if (r.urls.length > 0) return { urls: r.urls, source: '--nats' };
  }
  const env = readEnv('natsUrl');
  if (env) return { urls: [...env], source: 'ATTNFIT_NATS_URL' };
  const ctx = readClusterContext();
  if (ctx) return { urls: [ctx.url], source: contextPath(readEnv('clusterDir')) };
  return undefined;
}

/** Flags (+ environment + context) → connection options; USAGE naming --nats when no server is named anywhere. */
export function authOptions(f: AuthFlags): NatsAuthOptions {
  const s = resolveServers(f);
  if (!s) {
    throw new AttnfitError(
      ErrorCodes.USAGE,
      '--nats: a NATS server URL is required (e.g. --nats nats://127.0.0.1:4222, or env ATTNFIT_NATS_URL, or `attnfit cluster up` in this directory)',
      { details: { field: '--nats' } },
    );
  }
  const o: NatsAuthOptions = { servers: s.urls.length === 1 ? s.urls[0]! : s.urls };
  if (f.user !== undefined) o.user = f.user;
  if (f.pass !== undefined) o.pass = f.pass;
  if (f.creds !== undefined) o.credsFile = f.creds;
  return o;
}
