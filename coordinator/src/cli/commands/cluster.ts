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
import { checkOutputDir, loadMatrix, loadProblem, writeJsonAtomic, writeNpy } from '@attnfit/shared/io';
import type { JobRecord, JobSolveOptions } from '@attnfit/shared/protocol';
import type { NatsAuthOptions } from '@attnfit/shared/runtime';
import { readEnv } from '@attnfit/shared/config';
import { ClusterClient } from '../../cluster/client.js';
import { runCoordinator } from '../../cluster/coordinator.js';
import { clusterResourceError } from '../../jobs/store.js';
import { authOptions, withAuth, type AuthFlags } from '../connection.js';
import { reportError } from '../errors.js';
import { clusterDown, clusterUp } from '../launcher.js';
import { intOption, shutdownTimeoutFlag, threadsOption } from '../options.js';
import { SOLVE_FLAG_KEYS, searchChoice, withSolveOptions, type SolveFlags } from '../solve-options.js';

function jsonReplacer(_k: string, v: unknown): unknown {
  return v instanceof Float64Array ? Array.from(v) : v;
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : x.toExponential(3);
}

/** One human-readable line per job. */
function jobLine(r: JobRecord): string {
  return [r.id, r.state.padEnd(9), `iter ${String(r.iteration).padStart(4)}`, `relLoss ${fmt(r.relLoss)}`, `n=${r.problem.n} d=${r.problem.d}`, r.name ?? ''].join('  ').trimEnd();
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

async function writeResult(c: ClusterClient, jobId: string, out: string): Promise<Record<string, unknown>> {
  const r = await c.result(jobId);
  const d = r.record.problem.d;
  await writeNpy(join(out, 'X.npy'), r.X, [d, d]);
  await writeNpy(join(out, 'Y.npy'), r.Y, [d, d]);
  await writeJsonAtomic(join(out, 'report.json'), r.report);
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
    .option(...shutdownTimeoutFlag())
    .action(async (f: AuthFlags & { threads?: number; name?: string; shutdownTimeout?: number }) => {
      const o = authOptions(f);
      const entry = workerServicePath();
      const mod = (await import(pathToFileURL(entry).href)) as { runWorker(o: NatsAuthOptions & { threads?: number; shutdownTimeoutMs?: number }): Promise<number> };
      const opts: NatsAuthOptions & { threads?: number; shutdownTimeoutMs?: number } = { ...o };
      if (f.threads !== undefined) opts.threads = f.threads;
      if (f.shutdownTimeout !== undefined) opts.shutdownTimeoutMs = f.shutdownTimeout * 1000;
      if (f.name !== undefined) opts.name = f.name;
      process.exitCode = await mod.runWorker(opts);
    });

  withAuth(program.command('coordinator'))
    .description('consume job submissions, run solves over the worker cluster, keep job state')
    .option('--max-jobs <n>', 'jobs solved at the same time', intOption('--max-jobs', 1, 1024))
    .option('--task-timeout-ms <ms>', 'per-attempt block task timeout', intOption('--task-timeout-ms', 1))
    .option('--max-attempts <n>', 'attempts per block task', intOption('--max-attempts', 1, 1000))
    .option(...shutdownTimeoutFlag())
    .action(async (f: AuthFlags & { maxJobs?: number; taskTimeoutMs?: number; maxAttempts?: number; shutdownTimeout?: number }) => {
      const o: Parameters<typeof runCoordinator>[0] = authOptions(f);
      if (f.maxJobs !== undefined) o.maxJobs = f.maxJobs;
      if (f.taskTimeoutMs !== undefined) o.taskTimeoutMs = f.taskTimeoutMs;
      if (f.maxAttempts !== undefined) o.maxAttempts = f.maxAttempts;
      if (f.shutdownTimeout !== undefined) o.shutdownTimeoutMs = f.shutdownTimeout * 1000;
      process.exitCode = await runCoordinator(o);
    });
}

type SubmitFlags = AuthFlags & SolveFlags & { name?: string; wait?: boolean; out?: string; json?: boolean };

/** `attnfit submit`: upload, submit, optionally follow the job to its end. */
function registerSubmit(program: Command): void {
  withSolveOptions(withAuth(program.command('submit'))
    .description('upload a problem and submit a solve job; prints the job id. Solve options not given take the same defaults as `attnfit solve` (applied by the coordinator)')
    .argument('<PROBLEM>', 'problem directory (A1.npy A2.npy A3.npy B.npy) or .safetensors file'), false)
    .option('--name <label>', 'job label (default: the problem path)')
    .option('--wait', 'follow progress until the job ends')
    .option('--out <DIR>', 'with --wait: write X.npy, Y.npy, report.json here')
    .option('--json', 'with --wait: print report.json to stdout')
    .action((path: string, f: SubmitFlags, cmd: Command) => runSubmit(path, f, cmd.getOptionValueSource('starts') === 'cli'));
}

async function runSubmit(path: string, f: SubmitFlags, startsGiven: boolean): Promise<void> {
  const choice = searchChoice(f, startsGiven);
  if (f.out !== undefined && !f.wait) throw new AttnfitError(ErrorCodes.USAGE, '--out: only valid with --wait (or use `attnfit result JOB --out DIR`)', { details: { field: '--out' } });
  if (f.out !== undefined) await checkOutputDir(f.out, '--out');
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
    const { jobId } = await c.guard(c.submit(problem, options, f.name ?? path));
    process.stdout.write(`${jobId}\n`);
    if (f.wait) process.exitCode = await c.guard(followJob(c, jobId, f));
  } catch (err) {
    throw clusterResourceError('submit', err);
  } finally {
    await c.close();
  }
}

/** Print progress until the job ends; write / print its result; resolve to the exit code. */
async function followJob(c: ClusterClient, jobId: string, f: SubmitFlags): Promise<number> {
  const rec = await c.waitFor(jobId, {
    mustExist: false,
    onProgress: (p) => process.stderr.write(`attnfit: job ${jobId} iter ${p.iteration} loss ${fmt(p.loss)} relLoss ${fmt(p.relLoss)}${p.gradNorm !== undefined ? ` grad ${fmt(p.gradNorm)}` : ''}\n`),
  });
  if (rec.state === 'succeeded') {
    if (f.out !== undefined) {
      const report = await writeResult(c, jobId, f.out);
      if (f.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else if (f.json) {
      process.stdout.write(`${JSON.stringify((await c.result(jobId)).report, null, 2)}\n`);
    }
    process.stderr.write(`attnfit: job ${jobId} succeeded: relLoss ${fmt(rec.relLoss)} after ${rec.iteration} iterations\n`);
  }
  return finalExit(rec);
}

/** `attnfit status|result|cancel|jobs`: read and steer jobs. */
function registerJobQueries(program: Command): void {
  withAuth(program.command('status'))
    .description('print a job record as JSON')
    .argument('<job>', 'job id')
    .action(async (job: string, f: AuthFlags) => {
      const rec = await withClient(f, (c) => c.status(job));
      process.stdout.write(`${JSON.stringify(rec, jsonReplacer, 2)}\n`);
    });

  withAuth(program.command('result'))
    .description('write a finished job\'s X.npy, Y.npy, report.json')
    .argument('<job>', 'job id')
    .requiredOption('--out <dir>', 'output directory')
    .action(async (job: string, f: AuthFlags & { out: string }) => {
      await checkOutputDir(f.out, '--out');
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
    .option('--json', 'print the records as a JSON array')
    .action(async (f: AuthFlags & { json?: boolean }) => {
      const list = await withClient(f, (c) => c.jobs());
      if (f.json) process.stdout.write(`${JSON.stringify(list, jsonReplacer, 2)}\n`);
      else for (const r of list) process.stdout.write(`${jobLine(r)}\n`);
    });
}

/** `attnfit cluster up|down`: the local loopback launcher (../launcher.ts). */
function registerLauncher(program: Command): void {
  const cluster = program.command('cluster').description('start / stop a local loopback cluster (nats-server + coordinator + workers)');
  cluster.command('up')
    .description('start nats-server, one coordinator and N workers on 127.0.0.1; writes pids and logs to --dir')
    .option('--workers <n>', 'worker processes', intOption('--workers', 0, 256), 2)
    .option('--threads <n>', 'threads per worker', threadsOption())
    .option('--port <port>', 'nats-server port', intOption('--port', 1, 65535), 4222)
    .option('--dir <dir>', 'state directory (config, JetStream store, pids.json, logs/, context.json) (default: env ATTNFIT_CLUSTER_DIR or .attnfit-cluster)')
    .action(async (f: { workers: number; threads?: number; port: number; dir?: string }) => {
      const o: { workers: number; dir: string; port: number; threads?: number } = { workers: f.workers, dir: f.dir ?? readEnv('clusterDir'), port: f.port };
      if (f.threads !== undefined) o.threads = f.threads;
      const p = await clusterUp(o);
      process.stdout.write(`${JSON.stringify(p)}\n`);
    });
  cluster.command('down')
    .description('stop the processes started by `cluster up` (SIGTERM, then SIGKILL after 10 s)')
    .option('--dir <dir>', 'state directory given to `cluster up` (default: env ATTNFIT_CLUSTER_DIR or .attnfit-cluster)')
    .action(async (f: { dir?: string }) => {
      const dir = f.dir ?? readEnv('clusterDir');
      const p = await clusterDown(dir);
      if (!p) throw new AttnfitError(ErrorCodes.NOT_FOUND, `--dir ${dir}: no pids.json (is a cluster running there?)`, { details: { field: '--dir', value: dir } });
      process.stdout.write(`stopped ${p.workers.length} worker(s), coordinator and nats-server (${p.url})\n`);
    });
}
