/**
 * Cluster commands: `attnfit worker`, `coordinator`, `submit`, `status`, `result`, `cancel`,
 * `jobs`, `cluster up|down`. All take `--nats URL` and auth (`--user U --pass P`, `--creds FILE`,
 * or env ATTNFIT_NATS_USER / ATTNFIT_NATS_PASS). The worker service is resolved by path
 * (`@attnfit/worker/service`): the coordinator package never imports the worker package.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as netConnect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AttnfitError, ErrorCodes, wireToError } from '@attnfit/shared/core';
import { checkOutputDir, encodeNpy, loadMatrix, loadProblem, writeFilesAtomic } from '@attnfit/shared/io';
import { JOB_LIMITS, JOB_METHODS, type JobRecord, type JobSolveOptions } from '@attnfit/shared/protocol';
import { ClusterClient } from '../../cluster/client.js';
import { clusterResourceError } from '../../jobs/store.js';
import type { NatsAuthOptions } from '@attnfit/shared/runtime';
import { runCoordinator } from '../../cluster/coordinator.js';
import { reportError } from '../errors.js';
import { choiceOption, collect, floatOption, intOption } from '../options.js';

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
    return await fn(c);
  } catch (err) {
    throw clusterResourceError('cluster request', err);
  } finally {
    await c.close();
  }
}

/** What `result` and `submit --wait --out` write into --out (checked before connecting). */
const RESULT_FILES = ['X.npy', 'Y.npy', 'report.json'];

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

// ---- cluster up / down (local launcher on loopback) ----

const BIN = fileURLToPath(new URL('../../../bin/attnfit.js', import.meta.url));

interface ClusterPids { url: string; dir: string; nats: number; coordinator: number; workers: number[] }

function waitPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((res, rej) => {
    const attempt = () => {
      const s = netConnect({ host: '127.0.0.1', port }, () => { s.end(); res(); });
      s.on('error', () => {
        s.destroy();
        if (Date.now() > deadline) rej(new AttnfitError(ErrorCodes.TIMEOUT, `cluster up: nats-server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function startDetached(cmd: string, args: string[], log: string): number {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new AttnfitError(ErrorCodes.INTERNAL, `cluster up: cannot start ${cmd}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function clusterUp(o: { workers: number; dir: string; port: number; threads?: number }): Promise<ClusterPids> {
  const dir = resolve(o.dir);
  const pidFile = join(dir, 'pids.json');
  if (existsSync(pidFile)) {
    const old = JSON.parse(readFileSync(pidFile, 'utf8')) as ClusterPids;
    if (alive(old.nats)) throw new AttnfitError(ErrorCodes.BAD_OPTION, `--dir ${dir}: a cluster is already running there (${old.url}); run \`attnfit cluster down --dir ${o.dir}\` first`);
  }
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const conf = join(dir, 'nats-server.conf');
  writeFileSync(conf, [
    '# Generated by `attnfit cluster up`: loopback only, JetStream on disk, no auth (local use).',
    `listen: "127.0.0.1:${o.port}"`,
    `jetstream { store_dir: "${join(dir, 'jetstream')}" }`,
    '',
  ].join('\n'));
  const url = `nats://127.0.0.1:${o.port}`;
  const nats = startDetached('nats-server', ['-c', conf], join(dir, 'logs', 'nats-server.log'));
  const pids: ClusterPids = { url, dir, nats, coordinator: 0, workers: [] };
  writeFileSync(pidFile, JSON.stringify(pids, null, 2));
  await waitPort(o.port, 10_000);
  pids.coordinator = startDetached(process.execPath, [BIN, 'coordinator', '--nats', url], join(dir, 'logs', 'coordinator.log'));
  for (let i = 0; i < o.workers; i++) {
    const args = [BIN, 'worker', '--nats', url];
    if (o.threads !== undefined) args.push('--threads', String(o.threads));
    pids.workers.push(startDetached(process.execPath, args, join(dir, 'logs', `worker-${i + 1}.log`)));
  }
  writeFileSync(pidFile, JSON.stringify(pids, null, 2));
  // Ready when every process has logged its "ready" line (or failed: then say which log to read).
  await waitForLog(join(dir, 'logs', 'coordinator.log'), /: ready/, pids.coordinator, 60_000);
  for (let i = 0; i < o.workers; i++) await waitForLog(join(dir, 'logs', `worker-${i + 1}.log`), /: ready/, pids.workers[i]!, 60_000);
  return pids;
}

async function waitForLog(file: string, re: RegExp, pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (re.test(text)) return;
    if (!alive(pid)) throw new AttnfitError(ErrorCodes.INTERNAL, `cluster up: process ${pid} exited; see ${file}:\n${text.slice(-2000)}`);
    if (Date.now() > deadline) throw new AttnfitError(ErrorCodes.TIMEOUT, `cluster up: ${file} shows no ready line after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function clusterDown(dirArg: string): Promise<ClusterPids | undefined> {
  const dir = resolve(dirArg);
  const pidFile = join(dir, 'pids.json');
  if (!existsSync(pidFile)) return undefined;
  const p = JSON.parse(readFileSync(pidFile, 'utf8')) as ClusterPids;
  // Workers and coordinator first (they drain), the server last.
  for (const group of [p.workers, [p.coordinator], [p.nats]]) {
    for (const pid of group) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (group.some((pid) => pid > 0 && alive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const pid of group) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
  return p;
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
  withAuth(program.command('worker'))
    .description('join the NATS worker queue group and evaluate block tasks in a thread pool')
    .option('--threads <n>', 'compute threads (default: all cores)', intOption('--threads', 1, 1024))
    .option('--name <name>', 'client name shown by the server')
    .action(async (f: AuthFlags & { threads?: number; name?: string }) => {
      const o = authOptions(f);
      const entry = workerServicePath();
      const mod = (await import(pathToFileURL(entry).href)) as { runWorker(o: NatsAuthOptions & { threads?: number }): Promise<number> };
      const opts: NatsAuthOptions & { threads?: number } = { ...o };
      if (f.threads !== undefined) opts.threads = f.threads;
      if (f.name !== undefined) opts.name = f.name;
      process.exitCode = await mod.runWorker(opts);
    });

  withAuth(program.command('coordinator'))
    .description('consume job submissions, run solves over the worker cluster, keep job state')
    .option('--max-jobs <n>', 'jobs solved at the same time', intOption('--max-jobs', 1, 1024))
    .option('--task-timeout-ms <ms>', 'per-attempt block task timeout', intOption('--task-timeout-ms', 1))
    .option('--max-attempts <n>', 'attempts per block task', intOption('--max-attempts', 1, 1000))
    .action(async (f: AuthFlags & { maxJobs?: number; taskTimeoutMs?: number; maxAttempts?: number }) => {
      const o: Parameters<typeof runCoordinator>[0] = authOptions(f);
      if (f.maxJobs !== undefined) o.maxJobs = f.maxJobs;
      if (f.taskTimeoutMs !== undefined) o.taskTimeoutMs = f.taskTimeoutMs;
      if (f.maxAttempts !== undefined) o.maxAttempts = f.maxAttempts;
      process.exitCode = await runCoordinator(o);
    });

  withAuth(program.command('submit'))
    .description('upload a problem and submit a solve job; prints the job id')
    .argument('<problem>', 'problem directory (A1.npy A2.npy A3.npy B.npy) or .safetensors file')
    .option('--x0 <file>', 'warm start X (d×d .npy)')
    .option('--y0 <file>', 'warm start Y (d×d .npy)')
    .option('--method <m>', `solver method (${JOB_METHODS.join(', ')}; default: auto by d)`, choiceOption('--method', JOB_METHODS))
    .option('--tol <rel>', 'stop at relative loss <= tol', floatOption('--tol', { gt: 0 }))
    .option('--gtol <g>', 'stop at reduced gradient norm <= gtol', floatOption('--gtol', { ge: 0 }))
    .option('--max-iter <n>', 'maximum iterations', intOption('--max-iter', 0))
    .option('--starts <k>', 'seeded starts (best is kept)', intOption('--starts', 1, JOB_LIMITS.maxStarts))
    .option('--seed <s>', 'seed of random starts', intOption('--seed', 0))
    .option('--gamma <g>', 'paper regulariser weight', floatOption('--gamma', { ge: 0 }))
    .option('--name <label>', 'job label (default: the problem path)')
    .option('--wait', 'follow progress until the job ends')
    .option('--out <dir>', 'with --wait: write X.npy, Y.npy, report.json here')
    .option('--json', 'with --wait: print report.json to stdout')
    .action(async (path: string, f: AuthFlags & {
      x0?: string; y0?: string; method?: string; tol?: number; gtol?: number; maxIter?: number; starts?: number;
      seed?: number; gamma?: number; name?: string; wait?: boolean; out?: string; json?: boolean;
    }) => {
      if (f.out !== undefined && !f.wait) throw new AttnfitError(ErrorCodes.USAGE, '--out: only valid with --wait (or use `attnfit result JOB --out DIR`)', { details: { field: '--out' } });
      if (f.out !== undefined) await checkOutputDir(f.out, '--out', { files: RESULT_FILES });
      const auth = authOptions(f);
      const problem = await loadProblem(path);
      const d = problem.d;
      const options: JobSolveOptions = {};
      for (const k of ['method', 'tol', 'gtol', 'maxIter', 'starts', 'seed', 'gamma'] as const) {
        if (f[k] !== undefined) (options as Record<string, unknown>)[k] = f[k];
      }
      if (f.x0) options.x0 = (await loadMatrix(f.x0, { rows: d, cols: d, field: '--x0' })).data;
      if (f.y0) options.y0 = (await loadMatrix(f.y0, { rows: d, cols: d, field: '--y0' })).data;
      const c = await ClusterClient.connect(auth);
      try {
        const { jobId } = await c.submit(problem, options, f.name ?? path);
        process.stdout.write(`${jobId}\n`);
        if (!f.wait) return;
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
        process.exitCode = finalExit(rec);
      } catch (err) {
        throw clusterResourceError('submit', err);
      } finally {
        await c.close();
      }
    });

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
    .option('--json', 'print the records as a JSON array')
    .action(async (f: AuthFlags & { json?: boolean }) => {
      const list = await withClient(f, (c) => c.jobs());
      if (f.json) process.stdout.write(`${JSON.stringify(list, jsonReplacer, 2)}\n`);
      else for (const r of list) process.stdout.write(`${jobLine(r)}\n`);
    });

  const cluster = program.command('cluster').description('start / stop a local loopback cluster (nats-server + coordinator + workers)');
  cluster.command('up')
    .description('start nats-server, one coordinator and N workers on 127.0.0.1; writes pids and logs to --dir')
    .option('--workers <n>', 'worker processes', intOption('--workers', 0, 256), 2)
    .option('--threads <n>', 'threads per worker', intOption('--threads', 1, 1024))
    .option('--port <port>', 'nats-server port', intOption('--port', 1, 65535), 4222)
    .option('--dir <dir>', 'state directory (config, JetStream store, pids.json, logs/)', '.attnfit-cluster')
    .action(async (f: { workers: number; threads?: number; port: number; dir: string }) => {
      const o: { workers: number; dir: string; port: number; threads?: number } = { workers: f.workers, dir: f.dir, port: f.port };
      if (f.threads !== undefined) o.threads = f.threads;
      const p = await clusterUp(o);
      process.stdout.write(`${JSON.stringify(p)}\n`);
    });
  cluster.command('down')
    .description('stop the processes started by `cluster up` (SIGTERM, then SIGKILL after 10 s)')
    .option('--dir <dir>', 'state directory given to `cluster up`', '.attnfit-cluster')
    .action(async (f: { dir: string }) => {
      const p = await clusterDown(f.dir);
      if (!p) throw new AttnfitError(ErrorCodes.NOT_FOUND, `--dir ${f.dir}: no pids.json (is a cluster running there?)`, { details: { field: '--dir', value: f.dir } });
      process.stdout.write(`stopped ${p.workers.length} worker(s), coordinator and nats-server (${p.url})\n`);
    });
}
