#!/usr/bin/env node
// Big-problem end to end on this machine (issue: large n across machines; docs/cluster.md
// "Big problems"): generate an n×d planted problem, start a private nats-server (JetStream on
// disk, loopback, free port), one coordinator and one worker, then time
//   1. the upload (`attnfit submit`: load, pack, parts + manifest into the Object Store),
//   2. one evaluation on the cluster (a job with --max-iter 0 from X_true / Y_true: one pass of
//      loss + gradient over all row blocks on the worker),
//   3. fetching the result (`attnfit result JOB --out DIR`),
//   4. a second submit of the same problem (every part read back and verified, nothing uploaded),
// and report peak RSS per process (VmHWM of coordinator / worker / nats-server; /usr/bin/time for
// the one-shot commands). Usage:
//   node bench/big-problem.mjs [--n 262144] [--d 16] [--threads 2] [--dir /tmp/attnfit-big] [--planted]
//                              [--task-timeout-ms MS]
// The problem directory is reused when it exists. By default its tensors are random (written
// directly: `attnfit generate` plants B = softmax(A1 X A2ᵀ) A3 Y, itself an n² computation);
// --planted uses `attnfit generate` (timed) instead.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoDir } from './lib/common.mjs';
import { encodeNpy } from '../shared/dist/io/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const n = Number(opt('n', 262144));
const d = Number(opt('d', 16));
const threads = Number(opt('threads', 2));
// Per-attempt task timeout of the coordinator (a shard of a big problem can take minutes).
const taskTimeoutMs = opt('task-timeout-ms', undefined);
const dir = opt('dir', join(tmpdir(), `attnfit-big-${n}x${d}`));
const BIN = join(repoDir, 'coordinator', 'bin', 'attnfit.js');

const t = () => performance.now() / 1000;
const log = (s) => process.stderr.write(`${s}\n`);

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/** Run attnfit to completion under /usr/bin/time; returns { code, out, seconds, peakMiB }. */
function once(cliArgs) {
  const t0 = t();
  const r = spawnSync('/usr/bin/time', ['-f', 'PEAK_KB=%M', process.execPath, BIN, ...cliArgs], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = t() - t0;
  const m = /PEAK_KB=(\d+)/.exec(r.stderr);
  return {
    code: r.status,
    out: r.stdout,
    err: r.stderr,
    seconds,
    peakMiB: m ? Number(m[1]) / 1024 : NaN,
  };
}

function startProc(cmd, cmdArgs, readyRe) {
  const p = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let all = '';
  const ready = new Promise((res, rej) => {
    const on = (b) => {
      all += b.toString();
      if (readyRe.test(all)) res();
    };
    p.stdout.on('data', on);
    p.stderr.on('data', on);
    p.on('exit', (c) => rej(new Error(`${cmd} exited ${c}:\n${all}`)));
  });
  return { p, ready, out: () => all };
}

function peakMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

const result = { n, d, threads, problemMiB: (32 * n * d) / 1024 ** 2 };
if (!existsSync(join(dir, 'B.npy'))) {
  log(`writing a ${n}×${d} problem into ${dir} …`);
  const t0 = t();
  if (args.includes('--planted')) {
    const g = once(['generate', '--n', String(n), '--d', String(d), '--seed', '1', '--out', dir]);
    if (g.code !== 0) throw new Error(g.err);
  } else {
    // Random tensors (a fixed LCG, scaled so logits stay moderate) and X, Y to evaluate at.
    mkdirSync(dir, { recursive: true });
    let s = 12345;
    const rand = (len, scale) => {
      const a = new Float64Array(len);
      for (let i = 0; i < len; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        a[i] = (s / 2 ** 32 - 0.5) * scale;
      }
      return a;
    };
    for (const k of ['A1', 'A2', 'A3', 'B']) writeFileSync(join(dir, `${k}.npy`), encodeNpy(rand(n * d, 2), [n, d]));
    writeFileSync(join(dir, 'X_true.npy'), encodeNpy(rand(d * d, 0.5), [d, d]));
    writeFileSync(join(dir, 'Y_true.npy'), encodeNpy(rand(d * d, 2), [d, d]));
  }
  result.generateSeconds = t() - t0;
}

const port = await freePort();
const store = mkdtempSync(join(tmpdir(), 'attnfit-big-js-'));
const conf = join(store, 'nats.conf');
writeFileSync(conf, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(store, 'js')}" }\n`);
const url = `nats://127.0.0.1:${port}`;
const nats = startProc('nats-server', ['-c', conf], /Server is ready/);
const procs = [nats];
try {
  await nats.ready;
  const coord = startProc(
    process.execPath,
    [BIN, 'coordinator', '--nats', url, ...(taskTimeoutMs ? ['--task-timeout-ms', taskTimeoutMs] : [])],
    /ready/,
  );
  procs.push(coord);
  await coord.ready;
  const worker = startProc(process.execPath, [BIN, 'worker', '--nats', url, '--threads', String(threads)], /ready/);
  procs.push(worker);
  await worker.ready;

  const solveArgs = ['--x0', join(dir, 'X_true.npy'), '--y0', join(dir, 'Y_true.npy'), '--max-iter', '0'];
  log('submitting (upload) …');
  const s = once(['submit', dir, '--nats', url, ...solveArgs]);
  if (s.code !== 0) throw new Error(s.err);
  const jobId = s.out.trim().split('\n')[0];
  result.upload = { seconds: s.seconds, peakMiB: s.peakMiB };
  log(`upload: ${JSON.stringify(result.upload)}`);

  log(`job ${jobId}: waiting for the evaluation …`);
  const t0 = t();
  let rec;
  for (;;) {
    const st = spawnSync(process.execPath, [BIN, 'status', jobId, '--nats', url, '--json'], { encoding: 'utf8' });
    rec = JSON.parse(st.stdout);
    if (['succeeded', 'failed', 'cancelled'].includes(rec.state)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  result.job = {
    state: rec.state,
    wallSeconds: t() - t0,
    relLoss: rec.relLoss,
    error: rec.error?.message,
  };

  const out = mkdtempSync(join(tmpdir(), 'attnfit-big-out-'));
  const r = once(['result', jobId, '--nats', url, '--out', out]);
  result.result = { code: r.code, seconds: r.seconds, peakMiB: r.peakMiB };
  if (r.code === 0) {
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    result.job.reportSeconds = rep.seconds;
    result.job.tasks = rep.tasks ?? rep.cluster?.tasks;
  }
  rmSync(out, { recursive: true, force: true });

  log(`job: ${JSON.stringify(result.job)}; result: ${JSON.stringify(result.result)}`);
  log('submitting again (stored problem: verified, not uploaded) …');
  const s2 = once(['submit', dir, '--nats', url, ...solveArgs]);
  result.resubmit = { seconds: s2.seconds, peakMiB: s2.peakMiB };
  result.peakMiB = {
    natsServer: peakMiB(nats.p.pid),
    coordinator: peakMiB(coord.p.pid),
    worker: peakMiB(worker.p.pid),
  };
} finally {
  for (const x of procs.reverse()) x.p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  rmSync(store, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
