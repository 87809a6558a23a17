/**
 * `attnfit dynamic --q Q.npy --k K.npy --v V.npy --ops OPS.jsonl [--tau T] [--mode M]` — replay
 * an ops file against the lazy dynamic attention structure and print one JSON line per query.
 * The whole ops file is validated before anything is printed (bad line → exit 2, BAD_OP).
 *
 * `attnfit dynamic serve --nats URL …` — serve dynamic sessions over NATS until SIGINT/SIGTERM.
 *
 * `--threads N` (both): rebuilds of structures with n ≥ `--shard-min-rows` (default
 * DYNAMIC_DEFAULTS.shardMinRows = 2048) split their row blocks over N threads. The replay
 * command then runs the structure in a worker-thread session (same answers, bitwise).
 */
import type { Command } from 'commander';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import {
  DYNAMIC_DEFAULTS,
  DynamicAttention,
  OpsParser,
  applyDynamicOp,
  type DynamicOp,
  type DynamicStats,
} from '@attnfit/shared/dynamic';
import { loadMatrix, readChunks } from '@attnfit/shared/io';
import type { NatsAuthOptions } from '@attnfit/shared/runtime';
import { authOptions, withAuth, type AuthFlags } from '../connection.js';
import { choiceOption, floatOption, intOption, shutdownTimeoutFlag, threadsOption } from '../options.js';

interface DynamicCliOptions {
  q: string;
  k: string;
  v: string;
  ops: string;
  tau: number;
  mode: 'auto' | 'snapshot' | 'keys';
  stats?: boolean;
  deamortize?: boolean;
  threads: number;
  shardMinRows: number;
}

/** Ops per batch sent to a worker-thread session by the replay command. */
const SESSION_BATCH = 4096;

/**
 * Parse and validate a whole ops file (JSON lines; blank lines ignored), streamed in 1 MiB chunks:
 * memory is bounded by one line (see maxOpsLineBytes) plus the parsed ops, whatever the file.
 * Only a regular file is read (a FIFO or a device is refused up front: BAD_FILE).
 */
export async function readOpsFile(path: string, n: number, d: number): Promise<DynamicOp[]> {
  const parser = new OpsParser(n, d, { label: path });
  await readChunks(path, `--ops ${path}`, (chunk) => parser.push(chunk));
  return parser.end();
}

async function runDynamic(o: DynamicCliOptions): Promise<void> {
  const Q = await loadMatrix(o.q, { field: '--q' });
  const n = Q.rows,
    d = Q.cols;
  if (n === 0 || d === 0)
    throw new AttnfitError(ErrorCodes.EMPTY, `--q ${o.q}: shape [${n}, ${d}] has no rows or columns`);
  const K = await loadMatrix(o.k, { field: '--k', rows: n, cols: d });
  const V = await loadMatrix(o.v, { field: '--v', rows: n, cols: d });
  const ops = await readOpsFile(o.ops, n, d);
  const daOpts = { tau: o.tau, mode: o.mode, deamortize: !!o.deamortize };
  let out: string[] = [];
  const flush = () => {
    if (out.length) {
      process.stdout.write(out.join(''));
      out = [];
    }
  };
  const emit = (op: DynamicOp, v: number | Float64Array) => {
    if (typeof v === 'number') out.push(`{"i":${op.i},"j":${(op as { j: number }).j},"value":${JSON.stringify(v)}}\n`);
    else out.push(`{"i":${op.i},"values":${JSON.stringify(Array.from(v))}}\n`);
    if (out.length >= 4096) flush();
  };
  let stats: DynamicStats;
  if (o.threads > 1 && n >= o.shardMinRows && !o.deamortize) {
    // sharded rebuilds: the structure lives in a session thread that owns the helper pool
    const { openDynamicSession } = await import('../../dynamic/thread-session.js');
    const s = await openDynamicSession(Q.data, K.data, V.data, n, d, {
      ...daOpts,
      rebuildThreads: o.threads,
      shardMinRows: o.shardMinRows,
    });
    try {
      for (let b = 0; b < ops.length; b += SESSION_BATCH) {
        const batch = ops.slice(b, b + SESSION_BATCH);
        const res = await s.apply(batch);
        let k = 0;
        for (const op of batch) if (op.op === 'query' || op.op === 'queryRow') emit(op, res[k++]!);
      }
      stats = await s.stats();
    } finally {
      await s.close();
    }
  } else {
    const da = DynamicAttention.init(Q.data, K.data, V.data, n, d, daOpts);
    for (const op of ops) {
      const v = applyDynamicOp(da, op);
      if (v !== undefined) emit(op, v);
    }
    stats = da.stats();
  }
  flush();
  if (o.stats) process.stderr.write(`${JSON.stringify(stats)}\n`);
}

async function runServe(
  auth: NatsAuthOptions,
  o: { maxSessions?: number; threads: number; shardMinRows: number; shutdownTimeoutMs?: number },
): Promise<void> {
  const { connectNats, runUntilSignal } = await import('@attnfit/shared/runtime');
  const { startDynamicService } = await import('../../dynamic/service.js');
  const where = Array.isArray(auth.servers) ? auth.servers.join(',') : auth.servers;
  const log = (l: string): void => {
    process.stderr.write(`${l}\n`);
  };
  let stopAll: (() => Promise<void>) | undefined;
  const start = async (): Promise<{ drain(): Promise<void>; closed: Promise<Error | undefined> }> => {
    const nc = await connectNats({ name: 'attnfit-dynamic', ...auth });
    let svc: Awaited<ReturnType<typeof startDynamicService>>;
    try {
      // Rejects AUTH when the open subscription is forbidden (a service that never gets a request).
      svc = await startDynamicService(nc, {
        maxSessions: o.maxSessions ?? 64,
        log,
        rebuildThreads: o.threads,
        shardMinRows: o.shardMinRows,
      });
    } catch (err) {
      await nc.close();
      throw err;
    }
    log(`attnfit dynamic: serving sessions on ${where}`);
    const closed = nc.closed().then((err) => {
      if (err) log(`attnfit dynamic: connection closed: ${err.message}`);
      return err || undefined;
    });
    let draining: Promise<void> | undefined;
    const drain = (): Promise<void> =>
      (draining ??= (async () => {
        await svc.stop();
        if (!nc.isClosed()) await nc.drain();
      })());
    stopAll = drain;
    return { drain, closed };
  };
  const ro: Parameters<typeof runUntilSignal>[1] = { name: 'attnfit dynamic', log };
  if (o.shutdownTimeoutMs !== undefined) ro.shutdownTimeoutMs = o.shutdownTimeoutMs;
  const code = await runUntilSignal(start, ro);
  // The connection may close on its own (fatal error): stop the sessions' threads too.
  await stopAll?.().catch(() => undefined);
  if (code !== 0) process.exitCode = code;
}

/** Registers `attnfit dynamic` and `attnfit dynamic serve`. */
export function register(program: Command): void {
  const cmd = program
    .command('dynamic')
    .description('replay K/V updates and queries (JSON lines) against the exact lazy dynamic attention structure')
    .option('--q <file>', 'queries Q (.npy, n×d)')
    .option('--k <file>', 'keys K (.npy, n×d)')
    .option('--v <file>', 'values V (.npy, n×d)')
    .option(
      '--ops <file>',
      'ops file: one JSON object per line, {"op":"updateK"|"updateV","i":r,"j":c,"delta":x} or {"op":"query","i":i,"j":j}',
    )
    .option('--tau <t>', 'rebuild after ⌈n^τ⌉ pending updates (0 ≤ τ ≤ 1)', floatOption('--tau', { ge: 0, le: 1 }), 0.5)
    .option(
      '--mode <m>',
      'memory mode: snapshot (8n² bytes), keys (O(nd)), auto',
      choiceOption('--mode', ['auto', 'snapshot', 'keys'] as const),
      'auto',
    )
    .option('--deamortize', 'spread each rebuild over the next ⌈n^τ⌉ updates (bounded per-update latency)')
    .option('--stats', 'print the structure counters as JSON on stderr at the end')
    .option(
      '--threads <n>',
      'threads per rebuild: shard rebuild row blocks when n >= --shard-min-rows',
      threadsOption(),
      1,
    )
    .option(
      '--shard-min-rows <n>',
      'shard rebuilds only for n >= this many rows',
      intOption('--shard-min-rows', 1),
      DYNAMIC_DEFAULTS.shardMinRows,
    )
    .action(async (o: Partial<DynamicCliOptions>) => {
      for (const f of ['q', 'k', 'v', 'ops'] as const) {
        if (!o[f]) throw new AttnfitError(ErrorCodes.USAGE, `dynamic: missing required option --${f}`);
      }
      await runDynamic(o as DynamicCliOptions);
    });
  withAuth(
    cmd
      .command('serve')
      .description('serve dynamic attention sessions over NATS (subjects attnfit.dyn.*) until SIGINT/SIGTERM'),
  )
    .option('--token <token>', 'NATS token')
    // --threads / --shard-min-rows are declared here for the help text; commander hands them to the
    // parent `dynamic` command (it knows the same flags), so the values are read from there.
    .option(
      '--threads <n>',
      'threads per session rebuild (sessions with n >= --shard-min-rows shard their rebuilds; default 1)',
      threadsOption(),
    )
    .option(
      '--shard-min-rows <n>',
      `shard rebuilds only for sessions with n >= this many rows (default ${DYNAMIC_DEFAULTS.shardMinRows})`,
      intOption('--shard-min-rows', 1),
    )
    .option(...shutdownTimeoutFlag())
    .action(
      async (o: AuthFlags & { token?: string; threads?: number; shardMinRows?: number; shutdownTimeout?: number }) => {
        const auth = authOptions(o);
        if (o.token !== undefined) auth.token = o.token;
        const parent = cmd.opts() as { threads?: number; shardMinRows?: number };
        const threads = o.threads ?? parent.threads ?? 1,
          shardMinRows = o.shardMinRows ?? parent.shardMinRows ?? DYNAMIC_DEFAULTS.shardMinRows;
        const so: Parameters<typeof runServe>[1] = { threads, shardMinRows };
        if (o.shutdownTimeout !== undefined) so.shutdownTimeoutMs = o.shutdownTimeout * 1000;
        await runServe(auth, so);
      },
    );
}
