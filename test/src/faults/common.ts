/**
 * Shared pieces of the fault-injection suites (test/src/faults/*.slow.test.ts): one planted
 * problem solved locally as the reference, a job submitted with `attnfit submit --wait` whose run
 * a fault interrupts, and the comparisons (bitwise, or to rounding for a mixed-backend cluster).
 * Every wait is bounded: a job that does not end within its watchdog is killed and fails the test.
 */
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '@attnfit/shared/io';
import { cli, run, type CliProc } from '../cluster/procs.js';

/**
 * Same options for the local solve and the submitted jobs: a fixed number of Adam iterations
 * (n = 1024, d = 4: a few seconds on 2 cores with 2 one-thread workers), so a fault at iteration 5 lands
 * well inside the job.
 */
export const SOLVE = [
  '--no-search',
  '--starts',
  '1',
  '--method',
  'adam',
  '--max-iter',
  '30',
  '--tol',
  '1e-300',
  '--gtol',
  '0',
];

/** Generate the problem in `dir/p` and solve it locally (one thread) into `dir/local`. */
export async function problemWithLocalSolve(dir: string): Promise<{ problem: string; local: string }> {
  const problem = join(dir, 'p');
  const g = await run(['generate', '--n', '1024', '--d', '4', '--seed', '7', '--out', problem]);
  assert.is(g.code, 0, g.out);
  const local = join(dir, 'local');
  const s = await run(['solve', problem, ...SOLVE, '--threads', '1', '--out', local]);
  assert.is(s.code, 0, s.out);
  return { problem, local };
}

/** X.npy and Y.npy of `out` are byte-for-byte those of `ref`. */
export function assertBitwise(out: string, ref: string, label: string): void {
  for (const f of ['X.npy', 'Y.npy'])
    assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(ref, f))), `${label}: ${f} differs from ${ref}`);
}

/** Largest |a − b| / max(|b|) over X and Y of `out` vs `ref`. */
export async function maxRelDiff(out: string, ref: string): Promise<number> {
  let worst = 0;
  for (const f of ['X.npy', 'Y.npy']) {
    const a = (await readNpy(join(out, f))).data;
    const b = (await readNpy(join(ref, f))).data;
    assert.is(a.length, b.length);
    let scale = 0;
    for (const v of b) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  }
  return worst;
}

/** The `cluster` block of a job's report.json. */
export function clusterReport(out: string): { retries: number; hedges: number; tasks: number; workers: string[] } {
  return JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).cluster;
}

export interface FaultJob {
  /** The `submit --wait` process. */
  submit: CliProc;
  /** Resolves with its exit code (bounded by the watchdog). */
  done: Promise<number>;
}

/**
 * Start `attnfit submit PROBLEM --wait --out OUT` with the shared options and resolve once the
 * job reports iteration `atIter` (the moment to inject a fault). The job is killed (and the test
 * fails on its exit code) when it has not ended `watchdogMs` after that.
 */
export async function submitUntilIter(
  url: string,
  problem: string,
  out: string,
  procs: CliProc[],
  atIter = 5,
  watchdogMs = 120_000,
): Promise<FaultJob> {
  const submit = cli(['submit', problem, '--nats', url, ...SOLVE, '--wait', '--out', out]);
  procs.push(submit);
  await submit.line(new RegExp(`iter +${atIter} `), 120_000);
  const done = (async () => {
    const t = setTimeout(() => submit.kill('SIGKILL'), watchdogMs);
    const code = await submit.exit;
    clearTimeout(t);
    return code;
  })();
  return { submit, done };
}

/** Peak resident set (VmHWM, KiB) of a live process, from /proc/PID/status; undefined when gone. */
export function peakRssKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves after `ms` — only for the duration of a fault (a partition, a freeze), never to synchronise. */
export function faultFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
