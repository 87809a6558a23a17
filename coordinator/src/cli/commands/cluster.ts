/**
 * Cluster commands: `attnfit worker`, `coordinator`, `submit`, `status`, `result`, `cancel`,
 * `jobs`, `cluster up|down`. All take `--nats URL` and auth (`--user U --pass P`, `--creds FILE`),
 * or their ATTNFIT_NATS_* variables, or the context `cluster up` wrote (../connection.ts). The worker service is resolved by path
 * (`@attnfit/worker/service`): the coordinator package never imports the worker package.
 */
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AttnfitError, ErrorCodes, wireToError } from '@attnfit/shared/core';
import { checkOutputDir, encodeNpy, loadMatrix, loadProblem, writeFilesAtomic } from '@attnfit/shared/io';
import type { JobRecord, JobSolveOptions } from '@attnfit/shared/protocol';
import { isLoopbackHost, parseHttpAddress, type HttpAddress, type NatsAuthOptions } from '@attnfit/shared/runtime';
import { readEnv } from '@attnfit/shared/config';
import { ClusterClient } from '../../cluster/client.js';
import { runCoordinator } from '../../cluster/coordinator.js';
import { clusterResourceError } from '../../jobs/store.js';
import { startDashboard } from '../../http/index.js';
import { SOLVE_DEFAULTS } from '../../solver/index.js';
import { authOptions, withAuth, type AuthFlags } from '../connection.js';
import { reportError } from '../errors.js';
import { clusterDown, clusterUp } from '../launcher.js';
import { intOption, shutdownTimeoutFlag, threadsOption } from '../options.js';
import { formatBytes, progressBar, type ProgressBar } from '../progress.js';
import { SOLVE_FLAG_KEYS, searchChoice, withSolveOptions, type SolveFlags } from '../solve-options.js';

/** Record time fields printed as ISO-8601 (UTC) instead of epoch milliseconds. */
const TIME_FIELDS = new Set(['submittedAt', 'startedAt', 'endedAt']);

function jsonReplacer(k: string, v: unknown): unknown {
  if (v instanceof Float64Array) return Array.from(v);
  if (TIME_FIELDS.has(k) && typeof v === 'number') return iso(v);
  return v;
}

/** Indented JSON with ISO times, and each array of numbers on one line. */
export function recordJson(value: unknown): string {
  return (
    JSON.stringify(value, jsonReplacer, 2)
      // Indented arrays span lines; a string cannot contain a raw newline, so only real arrays match.
      .replace(
        /\[\n(\s*-?[\d.eE+-]+(?:,\n\s*-?[\d.eE+-]+)*)\n\s*\]/g,
        (_m, inner: string) => `[${inner.trim().split(/,\s*/).join(', ')}]`,
      )
  );
}

function iso(t: number | undefined): string {
  return t === undefined ? '-' : new Date(t).toISOString();
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : x.toExponential(3);
}

function seconds(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? '' : `  (${((b - a) / 1000).toFixed(1)} s)`;
}

/** One human-readable line per job: id, state, iteration, relative loss, size, submitted (ISO), label. */
function jobLine(r: JobRecord): string {
  return [
    r.id,
    r.state.padEnd(9),
    `iter ${String(r.iteration).padStart(4)}`,
    `relLoss ${fmt(r.relLoss)}`,
    `n=${r.problem.n} d=${r.problem.d}`,
    iso(r.submittedAt),
    r.name ?? '',
  ]
    .join('  ')
    .trimEnd();
}

/** `attnfit status JOB` without --json: one field per line, ISO times, matrices by shape. */
export function statusText(r: JobRecord): string {
  const d = r.problem.d;
  const opts = Object.entries(r.options)
    .map(([k, v]) => `${k}=${v instanceof Float64Array ? `${d}×${d}` : String(v)}`)
    .join(' ');
  const lines: Array<[string, string]> = [
    ['job', `${r.id}${r.name ? `  (${r.name})` : ''}`],
    [
      'state',
      `${r.state}${r.result ? (r.result.converged ? ' — converged' : ' — not converged') : ''}${r.cancelRequested && r.state !== 'cancelled' ? ' (cancel requested)' : ''}`,
    ],
    ['problem', `n=${r.problem.n} d=${d}  sha256 ${r.problem.hash.slice(0, 12)}…`],
    ['options', opts || '(defaults)'],
    ['progress', `iteration ${r.iteration}  relLoss ${fmt(r.relLoss)}  loss ${fmt(r.loss)}`],
    ['submitted', iso(r.submittedAt)],
    ['started', iso(r.startedAt)],
    ['ended', `${iso(r.endedAt)}${seconds(r.startedAt, r.endedAt)}`],
  ];
  if (r.resumedFrom.length) lines.push(['resumed', `from iteration ${r.resumedFrom.join(', ')}`]);
  if (r.error) lines.push(['error', `[${r.error.code}] ${r.error.message}`]);
  return lines.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n');
}

async function withClient<T>(f: AuthFlags, fn: (c: ClusterClient) => Promise<T>): Promise<T> {
  const c = await ClusterClient.connect(authOptions(f));
  try {
    return await c.guard(fn(c));
  } catch (err) {
    throw clusterResourceError('cluster request', err);
  } finally {
    await c.close();
  }
}

/** What `result` and `submit --wait --out` write into --out (checked before connecting). */
const RESULT_FILES = ['X.npy', 'Y.npy', 'report.json'];
/** Problems from this size print plain upload progress lines when stderr is not a terminal. */
const PLAIN_UPLOAD_LINES_BYTES = 16 * 1024 * 1024;

async function writeResult(c: ClusterClient, jobId: string, out: string): Promise<Record<string, unknown>> {
  const r = await c.result(jobId);
  const d = r.record.problem.d;
  // One atomic group: all three files or none.
  await writeFilesAtomic([
    { path: join(out, 'X.npy'), data: encodeNpy(r.X, [d, d]) },
    { path: join(out, 'Y.npy'), data: encodeNpy(r.Y, [d, d]) },
    { path: join(out, 'report.json'), data: `${JSON.stringify(r.report, null, 2)}\n` },
  ]);
  return r.report;
}

/** Resolve to the exit code of a finished job: 0 succeeded; the job's error code otherwise. */
function finalExit(rec: JobRecord): number {
  if (rec.state === 'succeeded') return 0;
  if (rec.state === 'failed' && rec.error) return reportError(wireToError(rec.error));
  return reportError(new AttnfitError(ErrorCodes.CANCELLED, `job ${rec.id} was cancelled`));
}

/**
 * Path of the worker's compiled NATS service (`@attnfit/worker/service`), named by path: the
 * coordinator package never imports the worker package.
 */
export function workerServicePath(): string {
  const req = createRequire(import.meta.url);
  try {
    return req.resolve('@attnfit/worker/service');
  } catch {
    // Older worker package.json without the "./service" export: same file, found via the package.
    return join(dirname(req.resolve('@attnfit/worker/package.json')), 'dist', 'service.js');
  }
}

/** `--http [HOST:]PORT` → address (BAD_OPTION naming --http). */
function httpOption(v: string): HttpAddress {
  return parseHttpAddress(v, '--http');
}

/** The listeners have no authentication: say so when they are reachable from other machines. */
function warnIfExposed(who: string, a: HttpAddress): void {
  if (!isLoopbackHost(a.host))
    process.stderr.write(
      `attnfit ${who}: warning: --http ${a.host}:${a.port} is reachable from other machines and has no authentication (read-only); see docs/operations.md\n`,
    );
}

/** Registers the cluster commands. */
export function register(program: Command): void {
  registerServices(program);
  registerSubmit(program);
  registerJobQueries(program);
  registerLauncher(program);
}

/** `attnfit worker` and `attnfit coordinator`: the long-running services. */
function registerServices(program: Command): void {
  withAuth(program.command('worker'))
    .description('join the NATS worker queue group and evaluate block tasks in a thread pool')
    .option('--threads <n>', 'compute threads (default: all cores)', threadsOption())
    .option('--name <name>', 'client name shown by the server')
    .option(
      '--http <addr>',
      'serve Prometheus /metrics on [HOST:]PORT (default host 127.0.0.1; port 0 = any free port)',
      httpOption,
    )
    .option(
      '--heartbeat-ms <ms>',
      'heartbeat period for the coordinator dashboard (0 = none)',
      intOption('--heartbeat-ms', 0, 3_600_000),
    )
    .option(...shutdownTimeoutFlag())
    .action(
      async (
        f: AuthFlags & {
          threads?: number;
          name?: string;
          http?: HttpAddress;
          heartbeatMs?: number;
          shutdownTimeout?: number;
        },
      ) => {
        const o = authOptions(f);
        const entry = workerServicePath();
        type WorkerOpts = NatsAuthOptions & {
          threads?: number;
          http?: HttpAddress;
          heartbeatMs?: number;
          shutdownTimeoutMs?: number;
        };
        const mod = (await import(pathToFileURL(entry).href)) as { runWorker(o: WorkerOpts): Promise<number> };
        const opts: WorkerOpts = { ...o };
        if (f.threads !== undefined) opts.threads = f.threads;
        if (f.shutdownTimeout !== undefined) opts.shutdownTimeoutMs = f.shutdownTimeout * 1000;
        if (f.name !== undefined) opts.name = f.name;
        if (f.heartbeatMs !== undefined) opts.heartbeatMs = f.heartbeatMs;
        if (f.http !== undefined) {
          opts.http = f.http;
          warnIfExposed('worker', f.http);
        }
        process.exitCode = await mod.runWorker(opts);
      },
    );

  withAuth(program.command('coordinator'))
    .description('consume job submissions, run solves over the worker cluster, keep job state')
    .option('--max-jobs <n>', 'jobs solved at the same time', intOption('--max-jobs', 1, 1024))
    .option('--task-timeout-ms <ms>', 'per-attempt block task timeout', intOption('--task-timeout-ms', 1))
    .option('--max-attempts <n>', 'attempts per block task', intOption('--max-attempts', 1, 1000))
    .option(
      '--reply-window-mb <MiB>',
      "reply bytes of a job's shard tasks in flight (default 48; keep below nats-server's max_pending)",
      intOption('--reply-window-mb', 1, 1 << 20),
    )
    .option(
      '--http <addr>',
      'serve the read-only dashboard and /metrics on [HOST:]PORT (default host 127.0.0.1; port 0 = any free port)',
      httpOption,
    )
    .option(...shutdownTimeoutFlag())
    .action(
      async (
        f: AuthFlags & {
          maxJobs?: number;
          taskTimeoutMs?: number;
          maxAttempts?: number;
          replyWindowMb?: number;
          http?: HttpAddress;
          shutdownTimeout?: number;
        },
      ) => {
        const o: Parameters<typeof runCoordinator>[0] = authOptions(f);
        if (f.maxJobs !== undefined) o.maxJobs = f.maxJobs;
        if (f.taskTimeoutMs !== undefined) o.taskTimeoutMs = f.taskTimeoutMs;
        if (f.maxAttempts !== undefined) o.maxAttempts = f.maxAttempts;
        if (f.replyWindowMb !== undefined) o.replyWindowBytes = f.replyWindowMb * 1024 * 1024;
        if (f.shutdownTimeout !== undefined) o.shutdownTimeoutMs = f.shutdownTimeout * 1000;
        const dash = f.http ? await startDashboard(f.http) : undefined;
        if (dash && f.http) {
          o.observer = dash.observer;
          process.stderr.write(`attnfit coordinator: dashboard on ${dash.url}/ (metrics: ${dash.url}/metrics)\n`);
          warnIfExposed('coordinator', f.http);
        }
        try {
          process.exitCode = await runCoordinator(o);
        } finally {
          await dash?.close();
        }
      },
    );
}

type SubmitFlags = AuthFlags & SolveFlags & { name?: string; wait?: boolean; out?: string; json?: boolean };

/** `attnfit submit`: upload, submit, optionally follow the job to its end. */
function registerSubmit(program: Command): void {
  withSolveOptions(
    withAuth(program.command('submit'))
      .description(
        'upload a problem and submit a solve job; prints the job id. Solve options not given take the same defaults as `attnfit solve` (applied by the coordinator)',
      )
      .argument('<PROBLEM>', 'problem directory (A1.npy A2.npy A3.npy B.npy) or .safetensors file'),
    false,
  )
    .option('--name <label>', 'job label (default: the problem path)')
    .option('--wait', 'follow progress until the job ends')
    .option('--out <DIR>', 'with --wait: write X.npy, Y.npy, report.json here')
    .option('--json', 'with --wait: print report.json to stdout')
    .action((path: string, f: SubmitFlags, cmd: Command) =>
      runSubmit(path, f, cmd.getOptionValueSource('starts') === 'cli'),
    );
}

async function runSubmit(path: string, f: SubmitFlags, startsGiven: boolean): Promise<void> {
  const choice = searchChoice(f, startsGiven);
  if (f.out !== undefined && !f.wait)
    throw new AttnfitError(ErrorCodes.USAGE, '--out: only valid with --wait (or use `attnfit result JOB --out DIR`)', {
      details: { field: '--out' },
    });
  if (f.out !== undefined) await checkOutputDir(f.out, '--out', { files: RESULT_FILES });
  const auth = authOptions(f);
  const problem = await loadProblem(path);
  const d = problem.d;
  const options: JobSolveOptions = {};
  for (const k of SOLVE_FLAG_KEYS) {
    if (f[k] !== undefined) (options as Record<string, unknown>)[k] = f[k];
  }
  if (f.x0) options.x0 = (await loadMatrix(f.x0, { rows: d, cols: d, field: '--x0' })).data;
  if (f.y0) options.y0 = (await loadMatrix(f.y0, { rows: d, cols: d, field: '--y0' })).data;
  if (choice.search) {
    options.search = true;
    if (choice.budgetSeconds !== undefined) options.budgetSeconds = choice.budgetSeconds;
    if (choice.maxEvals !== undefined) options.maxEvals = choice.maxEvals;
  }
  const c = await ClusterClient.connect(auth);
  try {
    // Terminal: a bar for the upload (and one for the solve in followJob); otherwise plain lines.
    // Off a terminal, a big upload prints a plain line per tenth (small ones stay silent).
    let up: ProgressBar | undefined;
    let lastTenth = 0;
    const { jobId } = await c.guard(
      c.submit(problem, options, f.name ?? path, {
        onUpload: (sent, total) => {
          up ??= progressBar('upload   {bar} {percentage}%  {sent} of {size}', total, {
            sent: '0 B',
            size: formatBytes(total),
          });
          up?.update(sent, { sent: formatBytes(sent) });
          const tenth = Math.floor((10 * sent) / total);
          if (!up && total >= PLAIN_UPLOAD_LINES_BYTES && tenth > lastTenth) {
            lastTenth = tenth;
            process.stderr.write(
              `attnfit submit: upload ${10 * tenth}% (${formatBytes(sent)} of ${formatBytes(total)})\n`,
            );
          }
        },
      }),
    );
    up?.stop();
    process.stdout.write(`${jobId}\n`);
    if (f.wait) process.exitCode = await c.guard(followJob(c, jobId, f, choice.search));
  } catch (err) {
    throw clusterResourceError('submit', err);
  } finally {
    await c.close();
  }
}

/** Print progress until the job ends; write / print its result; resolve to the exit code. */
async function followJob(c: ClusterClient, jobId: string, f: SubmitFlags, search: boolean): Promise<number> {
  // Terminal: a bar of iterations out of --max-iter (a search job: the counters without a bar).
  const format = search
    ? `job ${jobId} (search) iter {value}  relLoss {relLoss}  |grad| {grad}  {elapsed}`
    : `job ${jobId} {bar} iter {value}/{total}  relLoss {relLoss}  |grad| {grad}  {elapsed}`;
  const bar = progressBar(format, f.maxIter ?? SOLVE_DEFAULTS.maxIter, { relLoss: '-', grad: '-', elapsed: '' });
  let rec: JobRecord;
  try {
    rec = await c.waitFor(jobId, {
      mustExist: false,
      onProgress: (p) => {
        if (bar)
          bar.update(p.iteration, {
            relLoss: fmt(p.relLoss),
            grad: fmt(p.gradNorm),
            elapsed: p.seconds !== undefined ? `${p.seconds.toFixed(1)} s` : '',
          });
        else
          process.stderr.write(
            `attnfit: job ${jobId} iter ${p.iteration} loss ${fmt(p.loss)} relLoss ${fmt(p.relLoss)}${p.gradNorm !== undefined ? ` grad ${fmt(p.gradNorm)}` : ''}\n`,
          );
      },
    });
    if (bar && rec.state === 'succeeded') {
      bar.setTotal(Math.max(1, rec.iteration));
      bar.update(rec.iteration);
    }
  } finally {
    bar?.stop();
  }
  if (rec.state === 'succeeded') {
    if (f.out !== undefined) {
      const report = await writeResult(c, jobId, f.out);
      if (f.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else if (f.json) {
      process.stdout.write(`${JSON.stringify((await c.result(jobId)).report, null, 2)}\n`);
    }
    process.stderr.write(
      `attnfit: job ${jobId} succeeded: relLoss ${fmt(rec.relLoss)} after ${rec.iteration} iterations\n`,
    );
  }
  return finalExit(rec);
}

/** `attnfit status|result|cancel|jobs`: read and steer jobs. */
function registerJobQueries(program: Command): void {
  withAuth(program.command('status'))
    .description("print a job's state, progress and times (ISO-8601 UTC); --json: the job record")
    .argument('<job>', 'job id')
    .option('--json', 'print the job record as JSON (times as ISO-8601 strings)')
    .action(async (job: string, f: AuthFlags & { json?: boolean }) => {
      const rec = await withClient(f, (c) => c.status(job));
      process.stdout.write(`${f.json ? recordJson(rec) : statusText(rec)}\n`);
    });

  withAuth(program.command('result'))
    .description("write a finished job's X.npy, Y.npy, report.json")
    .argument('<job>', 'job id')
    .requiredOption('--out <dir>', 'output directory')
    .action(async (job: string, f: AuthFlags & { out: string }) => {
      await checkOutputDir(f.out, '--out', { files: RESULT_FILES });
      await withClient(f, (c) => writeResult(c, job, f.out));
    });

  withAuth(program.command('cancel'))
    .description('cancel a queued or running job (waits for it to stop)')
    .argument('<job>', 'job id')
    .option('--timeout-ms <ms>', 'how long to wait for the job to stop', intOption('--timeout-ms', 0), 30_000)
    .action(async (job: string, f: AuthFlags & { timeoutMs: number }) => {
      const rec = (await withClient(f, (c) => c.cancel(job, f.timeoutMs)))!;
      process.stdout.write(`${rec.id} ${rec.state}\n`);
    });

  withAuth(program.command('jobs'))
    .description('list jobs, oldest first')
    .option('--json', 'print the records as a JSON array (times as ISO-8601 strings)')
    .action(async (f: AuthFlags & { json?: boolean }) => {
      const list = await withClient(f, (c) => c.jobs());
      if (f.json) process.stdout.write(`${recordJson(list)}\n`);
      else for (const r of list) process.stdout.write(`${jobLine(r)}\n`);
    });
}

/** `attnfit cluster up|down`: the local loopback launcher (../launcher.ts). */
function registerLauncher(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('start / stop a local loopback cluster (nats-server + coordinator + workers)');
  cluster
    .command('up')
    .description('start nats-server, one coordinator and N workers on 127.0.0.1; writes pids and logs to --dir')
    .option('--workers <n>', 'worker processes', intOption('--workers', 0, 256), 2)
    .option('--threads <n>', 'threads per worker', threadsOption())
    .option('--port <port>', 'nats-server port', intOption('--port', 1, 65535), 4222)
    .option(
      '--dir <dir>',
      'state directory (config, JetStream store, pids.json, logs/, context.json) (default: env ATTNFIT_CLUSTER_DIR or .attnfit-cluster)',
    )
    .action(async (f: { workers: number; threads?: number; port: number; dir?: string }) => {
      const o: { workers: number; dir: string; port: number; threads?: number } = {
        workers: f.workers,
        dir: f.dir ?? readEnv('clusterDir'),
        port: f.port,
      };
      if (f.threads !== undefined) o.threads = f.threads;
      const p = await clusterUp(o);
      process.stdout.write(`${JSON.stringify(p)}\n`);
    });
  cluster
    .command('down')
    .description('stop the processes started by `cluster up` (SIGTERM, then SIGKILL after 10 s)')
    .option(
      '--dir <dir>',
      'state directory given to `cluster up` (default: env ATTNFIT_CLUSTER_DIR or .attnfit-cluster)',
    )
    .action(async (f: { dir?: string }) => {
      const dir = f.dir ?? readEnv('clusterDir');
      const p = await clusterDown(dir);
      if (!p)
        throw new AttnfitError(ErrorCodes.NOT_FOUND, `--dir ${dir}: no pids.json (is a cluster running there?)`, {
          details: { field: '--dir', value: dir },
        });
      process.stdout.write(`stopped ${p.workers.length} worker(s), coordinator and nats-server (${p.url})\n`);
    });
}
