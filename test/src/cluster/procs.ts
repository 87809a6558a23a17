/**
 * Test helpers for the cluster suites: spawn `attnfit` CLI processes, wait for a stderr line or
 * the exit (events, never sleeps), and write a nats-server config that includes deploy/auth.conf.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { relative, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Same GEMM backend as the CLI processes this test compares against (native BLAS when built).
import '@attnfit/shared/native';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'coordinator', 'bin', 'attnfit.js');
export const AUTH_CONF = join(ROOT, 'deploy', 'auth.conf');

/** Passwords the auth config reads from the server's environment. */
export const PASSWORDS = Object.freeze({ submitter: 'sub-pw', worker: 'wrk-pw', coordinator: 'crd-pw' });
export const SERVER_ENV = Object.freeze({
  ATTNFIT_SUBMITTER_PASS: PASSWORDS.submitter,
  ATTNFIT_WORKER_PASS: PASSWORDS.worker,
  ATTNFIT_COORDINATOR_PASS: PASSWORDS.coordinator,
});

/** `include` line for deploy/auth.conf from a config written in `dir` (nats-server resolves includes relative to the config). */
export function includeAuth(dir: string): string {
  return `include "${relative(dir, AUTH_CONF)}"`;
}

export interface CliProc {
  proc: ChildProcess;
  /** stdout + stderr so far. */
  out(): string;
  stdout(): string;
  /** Resolves when a line matching re appears (stdout or stderr); rejects if the process exits first or after timeoutMs. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (signal → 128 + n-ish, as -1). */
  exit: Promise<number>;
  kill(sig?: NodeJS.Signals): void;
}

/** Spawn `node coordinator/bin/attnfit.js ...args`. */
export function cli(args: string[], env: Record<string, string> = {}): CliProc {
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let all = '';
  let so = '';
  const waiters: Array<{ re: RegExp; resolve(s: string): void; reject(e: Error): void }> = [];
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      const m = all.split('\n').find((l) => w.re.test(l));
      if (m !== undefined) {
        waiters.splice(i, 1);
        w.resolve(m);
      }
    }
  };
  proc.stdout!.on('data', (d: Buffer) => {
    all += d;
    so += d;
    check();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    all += d;
    check();
  });
  const exit = new Promise<number>((resolve) =>
    proc.once('close', (code) => {
      for (const w of waiters.splice(0))
        w.reject(new Error(`process exited (${code}) before a line matching ${w.re}:\n${all}`));
      resolve(code ?? -1);
    }),
  );
  return {
    proc,
    out: () => all,
    stdout: () => so,
    line(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          const i = waiters.findIndex((w) => w.re === re);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${all}`));
        }, timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
        check();
        if (proc.exitCode !== null && waiters.some((w) => w.re === re)) {
          waiters.splice(
            waiters.findIndex((w) => w.re === re),
            1,
          );
          clearTimeout(t);
          reject(new Error(`process already exited:\n${all}`));
        }
      });
    },
    exit,
    kill(sig = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    },
  };
}

/** Run a CLI command to completion (killed after timeoutMs so a hang fails instead of blocking the suite). */
export async function run(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 90_000,
): Promise<{ code: number; out: string; stdout: string }> {
  const p = cli(args, env);
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const code = await p.exit;
  clearTimeout(t);
  return { code, out: p.out(), stdout: p.stdout() };
}

/** Start a coordinator and resolve once it reports ready. */
export async function startCoordinatorProc(args: string[], env: Record<string, string> = {}): Promise<CliProc> {
  const p = cli(['coordinator', ...args], env);
  await p.line(/attnfit coordinator .*: ready/);
  return p;
}

/** Start a worker and resolve once it reports ready. */
export async function startWorkerProc(args: string[], env: Record<string, string> = {}): Promise<CliProc> {
  const p = cli(['worker', '--threads', '1', ...args], env);
  await p.line(/attnfit worker .*: ready/);
  return p;
}

/** Stop processes (SIGTERM, then SIGKILL if they do not exit) and wait for them. */
export async function stopAll(ps: Array<CliProc | undefined>): Promise<void> {
  await Promise.all(
    ps
      .filter((p): p is CliProc => !!p)
      .map(async (p) => {
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 8000);
        await p.exit;
        clearTimeout(t);
      }),
  );
}
