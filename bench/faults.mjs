#!/usr/bin/env node
// Fault-time benchmark (issue 11, item 4): how much longer does a cluster job take when it loses
// a worker or rides through a nats-server restart, compared with the same job fault-free?
// Target: at most ~2× the fault-free time.
//
// Setup (all on loopback): one nats-server with a file store and short pings (ping_interval 5 s,
// ping_max 2 — which do not drop a frozen worker that keeps receiving tasks: the server delays
// its PINGs while it delivers messages to the client), one coordinator with the default
// task timeout (60 s — so a job that waited for it would show), two workers with one thread each;
// problem `attnfit generate --n 2048 --d 4 --seed 7`, solved with Adam for 40 iterations
// (--no-search --starts 1 --tol 1e-300 --gtol 0), the reference solved locally once.
// Scenarios, each RUNS times (BENCH_RUNS, at least 5), in turn:
//   fault-free       the job as is;
//   worker SIGKILL   one of the two workers SIGKILLed at iteration 5 (a fresh one started after);
//   server restart   nats-server SIGKILLed at iteration 5 and restarted at once on the same port
//                    with the same store dir (clients reconnect);
//   worker SIGSTOP   one of the two workers frozen at iteration 5 until the job has ended (then
//                    SIGCONT): a frozen worker stays in the queue group, so every evaluation that
//                    hands it a block pays one or more hedge delays (informative: not yet ≤ 2×).
// Time: wall time of `attnfit submit P --wait --out DIR` (upload, queueing, solve, result). The
// scenarios run interleaved (one round = one run of each), and "paired" is the median over rounds
// of (fault time / fault-free time of the same round), which a slow drift in machine load hurts less.
// Every run also checks X.npy and Y.npy bitwise against the local solve.
//
// Usage: npm run bench:faults   (or node bench/faults.mjs [--runs N] [--scenarios free,kill,restart,stop])
//   The worker SIGSTOP scenario takes minutes per run; `--scenarios free,kill,restart` leaves it out.
// Writes bench/results/faults-<time>.json and .md, and prints the markdown table.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gemmBackendDetail, vexpBackend } from '@attnfit/shared/kernels';
import '@attnfit/shared/native';
import { RUNS, fmt, machine, machineMd, repoDir, stats, table, writeResults } from './lib/common.mjs';

const argRuns = process.argv.indexOf('--runs');
const runs = argRuns > 0 ? Math.max(1, Number(process.argv[argRuns + 1])) : RUNS;
const BIN = join(repoDir, 'coordinator', 'bin', 'attnfit.js');
const SOLVE = [
  '--no-search',
  '--starts',
  '1',
  '--method',
  'adam',
  '--max-iter',
  '40',
  '--tol',
  '1e-300',
  '--gtol',
  '0',
];

/** A child process with its output collected and a promise of a matching line. */
function proc(cmd, args) {
  const p = spawn(cmd, args, { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters = [];
  const feed = (d) => {
    out += d;
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i].re.test(out)) waiters.splice(i, 1)[0].resolve();
  };
  p.stdout.on('data', feed);
  p.stderr.on('data', feed);
  const exit = new Promise((resolve) => p.once('close', (code) => resolve(code)));
  return {
    p,
    out: () => out,
    exit,
    line(re, ms = 120_000) {
      return new Promise((resolve, reject) => {
        if (re.test(out)) return resolve();
        const t = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms:\n${out}`)), ms);
        waiters.push({ re, resolve: () => (clearTimeout(t), resolve()) });
        exit.then(() => reject(new Error(`exited before ${re}:\n${out}`)));
      });
    },
  };
}
const attnfit = (...args) => proc(process.execPath, [BIN, ...args]);

async function runToEnd(...args) {
  const c = attnfit(...args);
  const code = await c.exit;
  if (code !== 0) throw new Error(`attnfit ${args.join(' ')}: exit ${code}\n${c.out()}`);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function listening(port) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const attempt = () => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.end(), resolve()));
      s.on('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nats-server not listening on ${port}`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

const work = mkdtempSync(join(tmpdir(), 'attnfit-bench-faults-'));
const port = await freePort();
const url = `nats://127.0.0.1:${port}`;
const conf = join(work, 'nats.conf');
// Short pings drop an idle frozen client in ~15 s, but not one that is sent tasks (see above).
writeFileSync(
  conf,
  `listen: "127.0.0.1:${port}"\nping_interval: "5s"\nping_max: 2\njetstream { store_dir: "${join(work, 'js')}" }\n`,
);
let server;
async function startServer() {
  server = proc('nats-server', ['-c', conf]);
  await listening(port);
}
async function killServer() {
  server.p.kill('SIGKILL');
  await server.exit;
}

const live = [];
async function service(kind, ...extra) {
  const s = attnfit(kind, '--nats', url, ...extra);
  live.push(s);
  await s.line(new RegExp(`attnfit ${kind} .*: ready`));
  return s;
}
const worker = () => service('worker', '--threads', '1');

const problem = join(work, 'p');
const same = (a, b) => ['X.npy', 'Y.npy'].every((f) => readFileSync(join(a, f)).equals(readFileSync(join(b, f))));

const scenarios = {
  'fault-free': async () => undefined,
  'worker SIGKILL': async (ws) => {
    ws[0].p.kill('SIGKILL');
    await ws[0].exit;
    ws[0] = undefined; // replaced after the job
  },
  'server restart': async () => {
    await killServer();
    await startServer();
  },
  'worker SIGSTOP': async (ws) => {
    const frozen = ws[0];
    frozen.p.kill('SIGSTOP');
    // After the job: SIGCONT, then replace it — woken, it would first work through the backlog of
    // stale task copies it was sent while frozen, slowing down the next scenario's job.
    return async () => {
      frozen.p.kill('SIGCONT');
      frozen.p.kill('SIGKILL');
      await frozen.exit;
      ws[0] = undefined;
    };
  },
};
const keys = { 'fault-free': 'free', 'worker SIGKILL': 'kill', 'server restart': 'restart', 'worker SIGSTOP': 'stop' };
const argSc = process.argv.indexOf('--scenarios');
const chosen = argSc > 0 ? process.argv[argSc + 1].split(',') : Object.values(keys);
for (const [name, key] of Object.entries(keys)) if (!chosen.includes(key)) delete scenarios[name];
if (!scenarios['fault-free']) throw new Error('--scenarios must include free (the baseline)');

const results = {};
try {
  await startServer();
  await runToEnd('generate', '--n', '2048', '--d', '4', '--seed', '7', '--out', problem);
  await runToEnd('solve', problem, ...SOLVE, '--threads', '1', '--out', join(work, 'local'));
  await service('coordinator');
  const ws = [await worker(), await worker()];
  let k = 0;
  // Interleave the scenarios so a change in machine load hits all of them alike.
  for (let r = 0; r < runs; r++) {
    for (const [name, fault] of Object.entries(scenarios)) {
      const out = join(work, `out-${k++}`);
      const t0 = performance.now();
      const submit = attnfit('submit', problem, '--nats', url, ...SOLVE, '--wait', '--out', out);
      await submit.line(/iter +5 /);
      const after = await fault(ws);
      const code = await submit.exit;
      const seconds = (performance.now() - t0) / 1000;
      await after?.();
      if (code !== 0) throw new Error(`${name}: submit exit ${code}\n${submit.out()}`);
      const bitwise = same(out, join(work, 'local'));
      (results[name] ??= []).push({ seconds, bitwise });
      process.stderr.write(`${name} run ${r + 1}: ${seconds.toFixed(2)} s, bitwise ${bitwise}\n`);
      for (let i = 0; i < ws.length; i++) if (!ws[i]) ws[i] = await worker();
    }
  }
} finally {
  for (const s of live) s.p.kill('SIGTERM');
  await Promise.all(live.map((s) => s.exit));
  if (server) server.p.kill('SIGTERM');
  await server?.exit;
  rmSync(work, { recursive: true, force: true });
}

const m = machine({ gemm: gemmBackendDetail(), vexp: vexpBackend() });
const free = results['fault-free'].map((x) => x.seconds);
const base = stats(free).median;
const rows = Object.entries(results).map(([name, xs]) => {
  const s = stats(xs.map((x) => x.seconds));
  const paired = stats(xs.map((x, i) => x.seconds / free[i]));
  return [
    name,
    String(s.runs),
    fmt(s.median, 2),
    `${fmt(s.min, 2)}–${fmt(s.max, 2)}`,
    `${fmt(s.median / base, 2)}×`,
    `${fmt(paired.median, 2)}× (${fmt(paired.min, 2)}–${fmt(paired.max, 2)})`,
    `${xs.filter((x) => x.bitwise).length}/${xs.length}`,
  ];
});
const md = [
  'Job: n = 2048, d = 4, Adam 40 iterations; 2 workers × 1 thread; coordinator task timeout 60 s (default); fault at iteration 5.',
  '',
  table(
    ['scenario', 'runs', 'median s', 'min–max s', 'median ratio', 'paired ratio (min–max)', 'bitwise = local'],
    rows,
  ),
  '',
  machineMd(m, '- coordinator, 2 workers × 1 thread, nats-server and the client on the same machine (loopback)'),
].join('\n');
console.log(md);
writeResults('faults', { machine: m, runs, results }, md);
