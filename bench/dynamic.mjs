#!/usr/bin/env node
// Dynamic attention benchmark: the lazy structure (rebuild after ⌈n^τ⌉ updates) against three
// baselines on the same op sequences —
//   recompute-all    : every update recomputes softmax(QKᵀ)V in full (O(n²d)); queries are lookups
//   recompute-entry  : updates only edit K/V; every query recomputes its row (O(nd))
//   eager rank-one   : the same structure with T = 1 (O(nd) maintenance per update, O(1) queries)
// Workloads: update:query ratios 100:1, 10:1, 1:1, 1:10 and a token-edit workload (a token's
// K row and V row change, then one entry is queried). Reports total time (median of repeats),
// p50/p99/max latency per op kind, the share of time spent in rebuilds, and memory.
// Slow baselines run under a time budget per run; their totals are extrapolated from the ops
// they completed (marked with ~).
//
// Usage: node bench/dynamic.mjs [--quick] [--n 512,1024] [--d 16] [--ops 2000] [--repeats 3]
//                                [--budget-ms 3000] [--tau 0.5]
// Writes bench/results/dynamic-<time>.json and .md, and prints the markdown table.
//
// Sharded rebuilds: node bench/dynamic.mjs --rebuild-threads 2 [--n 2048,4096] [--d 16]
//   [--tau 0.5,0.75] [--rounds 8] [--mode auto|snapshot|keys] times single-thread rebuilds against rebuilds split over N
//   threads (DynamicRebuildPool: the calling thread + N−1 helpers, shared memory) on two
//   identical structures fed the same updates — incremental rebuilds after T = ⌈n^τ⌉ updates and
//   full rebuilds — checks the two states stay bitwise equal, and writes
//   bench/results/dynamic-rebuild-<time>.{json,md}.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamicAttention } from '@attnfit/shared/dynamic';
import { dgemmBase, gemmBackendDetail } from '@attnfit/shared/kernels';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name, def) => {
  const k = argv.indexOf(name);
  return k >= 0 ? argv[k + 1] : def;
};
const quick = flag('--quick');
const REBUILD_THREADS = Number(opt('--rebuild-threads', 0));
const NS = opt('--n', quick ? '512,2048' : '512,1024,2048,4096')
  .split(',')
  .map(Number);
const DS = opt('--d', quick ? '16' : '16,64')
  .split(',')
  .map(Number);
const OPS = Number(opt('--ops', quick ? 600 : 2000));
const REPEATS = Number(opt('--repeats', quick ? 1 : 3));
const BUDGET_MS = Number(opt('--budget-ms', quick ? 1500 : 3000));
const TAUS = String(opt('--tau', '0.5')).split(',').map(Number);
const TAU = TAUS[0];
const ROUNDS = Number(opt('--rounds', 8));
const MODE = opt('--mode', 'auto');
const WORKLOADS = [
  { name: '100:1', upd: 100, qry: 1 },
  { name: '10:1', upd: 10, qry: 1 },
  { name: '1:1', upd: 1, qry: 1 },
  { name: '1:10', upd: 1, qry: 10 },
  { name: 'token-edit', token: true },
];

// ---------------------------------------------------------------- data
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randn = (R) => Math.sqrt(-2 * Math.log(Math.max(R(), 1e-300))) * Math.cos(2 * Math.PI * R());
function randMatrix(R, len, s) {
  const m = new Float64Array(len);
  for (let k = 0; k < len; k++) m[k] = s * randn(R);
  return m;
}

/** Op sequence: {k: 0 updateK | 1 updateV | 2 query | 3 token edit (K row + V row)}. */
function makeOps(R, n, d, w, count, s) {
  const ops = [];
  while (ops.length < count) {
    if (w.token) {
      const r = Math.floor(R() * n);
      ops.push({ k: 3, r, dk: randMatrix(R, d, s), dv: randMatrix(R, d, 1) });
      ops.push({ k: 2, i: Math.floor(R() * n), j: Math.floor(R() * d) });
      continue;
    }
    for (let u = 0; u < w.upd && ops.length < count; u++) {
      const isK = R() < 0.5;
      ops.push({ k: isK ? 0 : 1, r: Math.floor(R() * n), c: Math.floor(R() * d), x: (isK ? s : 1) * randn(R) });
    }
    for (let q = 0; q < w.qry && ops.length < count; q++)
      ops.push({ k: 2, i: Math.floor(R() * n), j: Math.floor(R() * d) });
  }
  // Interleave randomly (same multiset) so rebuilds do not line up with a fixed phase.
  return ops;
}

// ---------------------------------------------------------------- baselines
class RecomputeAll {
  constructor(Q, K, V, n, d) {
    this.Q = Q.slice();
    this.K = K.slice();
    this.V = V.slice();
    this.n = n;
    this.d = d;
    this.S = new Float64Array(n * n);
    this.O = new Float64Array(n * d);
    this.recompute();
  }
  recompute() {
    const { n, d, S } = this;
    dgemmBase(false, true, n, n, d, 1, this.Q, 0, d, this.K, 0, d, 0, S, 0, n);
    for (let i = 0; i < n; i++) {
      let mx = -Infinity;
      for (let r = 0; r < n; r++) if (S[i * n + r] > mx) mx = S[i * n + r];
      let L = 0;
      for (let r = 0; r < n; r++) {
        const e = Math.exp(S[i * n + r] - mx);
        S[i * n + r] = e;
        L += e;
      }
      const inv = 1 / L;
      for (let r = 0; r < n; r++) S[i * n + r] *= inv;
    }
    dgemmBase(false, false, n, d, n, 1, S, 0, n, this.V, 0, d, 0, this.O, 0, d);
  }
  updateK(r, c, x) {
    this.K[r * this.d + c] += x;
    this.recompute();
  }
  updateV(r, c, x) {
    this.V[r * this.d + c] += x;
    this.recompute();
  }
  updateKRow(r, row) {
    for (let c = 0; c < this.d; c++) this.K[r * this.d + c] += row[c];
    this.recompute();
  }
  updateVRow(r, row) {
    for (let c = 0; c < this.d; c++) this.V[r * this.d + c] += row[c];
    this.recompute();
  }
  query(i, j) {
    return this.O[i * this.d + j];
  }
  get bytes() {
    return 8 * (4 * this.n * this.d + this.n * this.n);
  }
}

class RecomputeEntry {
  constructor(Q, K, V, n, d) {
    this.Q = Q.slice();
    this.K = K.slice();
    this.V = V.slice();
    this.n = n;
    this.d = d;
    this.z = new Float64Array(n);
  }
  updateK(r, c, x) {
    this.K[r * this.d + c] += x;
  }
  updateV(r, c, x) {
    this.V[r * this.d + c] += x;
  }
  updateKRow(r, row) {
    for (let c = 0; c < this.d; c++) this.K[r * this.d + c] += row[c];
  }
  updateVRow(r, row) {
    for (let c = 0; c < this.d; c++) this.V[r * this.d + c] += row[c];
  }
  query(i, j) {
    const { n, d, z } = this;
    dgemmBase(false, true, 1, n, d, 1, this.Q, i * d, d, this.K, 0, d, 0, z, 0, n);
    let mx = -Infinity;
    for (let r = 0; r < n; r++) if (z[r] > mx) mx = z[r];
    let L = 0,
      num = 0;
    for (let r = 0; r < n; r++) {
      const e = Math.exp(z[r] - mx);
      L += e;
      num += e * this.V[r * d + j];
    }
    return num / L;
  }
  get bytes() {
    return 8 * (3 * this.n * this.d + this.n);
  }
}

const METHODS = {
  lazy: (Q, K, V, n, d) => DynamicAttention.init(Q, K, V, n, d, { tau: TAU }),
  'lazy de-amortised': (Q, K, V, n, d) => DynamicAttention.init(Q, K, V, n, d, { tau: TAU, deamortize: true }),
  'eager rank-one': (Q, K, V, n, d) => DynamicAttention.init(Q, K, V, n, d, { threshold: 1 }),
  'recompute-entry': (Q, K, V, n, d) => new RecomputeEntry(Q, K, V, n, d),
  'recompute-all': (Q, K, V, n, d) => new RecomputeAll(Q, K, V, n, d),
};

// ---------------------------------------------------------------- measurement
const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
};
const median = (xs) => pct(xs, 0.5);
const maxOf = (xs) => (xs.length ? xs.reduce((m, x) => (x > m ? x : m), -Infinity) : NaN);

function runOnce(method, Q, K, V, n, d, ops) {
  const t0 = performance.now();
  const obj = METHODS[method](Q, K, V, n, d);
  const initMs = performance.now() - t0;
  const isDyn = obj instanceof DynamicAttention;
  const upd = [],
    qry = [];
  let rebuildMs = 0,
    done = 0,
    sink = 0;
  const start = performance.now();
  for (const op of ops) {
    const before = isDyn && op.k !== 2 ? obj.stats().rebuilds : 0,
      bgBefore = isDyn ? obj.backgroundRows : 0;
    const a = performance.now();
    if (op.k === 0) obj.updateK(op.r, op.c, op.x);
    else if (op.k === 1) obj.updateV(op.r, op.c, op.x);
    else if (op.k === 3) {
      obj.updateKRow(op.r, op.dk);
      obj.updateVRow(op.r, op.dv);
    } else sink += obj.query(op.i, op.j);
    const dt = performance.now() - a;
    if (op.k === 2) qry.push(dt);
    else upd.push(dt);
    // time of updates that did rebuild work (a whole rebuild, or a background step)
    if (
      isDyn &&
      op.k !== 2 &&
      (obj.deamortized
        ? bgBefore > 0 || obj.backgroundRows > 0 || obj.stats().rebuilds > before
        : obj.stats().rebuilds > before)
    )
      rebuildMs += dt;
    done++;
    if (performance.now() - start > BUDGET_MS && done < ops.length) break;
  }
  const elapsed = performance.now() - start;
  if (!Number.isFinite(sink)) throw new Error(`${method}: non-finite query result`);
  const totalMs = elapsed * (ops.length / done);
  return {
    initMs,
    totalMs,
    done,
    extrapolated: done < ops.length,
    upd,
    qry,
    rebuildShare: rebuildMs / elapsed,
    bytes: isDyn ? obj.stats().bytes : obj.bytes,
    stats: isDyn ? obj.stats() : undefined,
  };
}

// ---------------------------------------------------------------- sharded rebuilds
function sameBits(a, b) {
  for (const f of ['m', 'ell', 'amp', 'N', 'ST', 'K0', 'V0']) {
    const x = a[f],
      y = b[f];
    if (x === null || y === null) {
      if (x !== y) return false;
      continue;
    }
    const bx = new BigUint64Array(x.buffer, x.byteOffset, x.length),
      by = new BigUint64Array(y.buffer, y.byteOffset, y.length);
    for (let k = 0; k < bx.length; k++) if (bx[k] !== by[k]) return false;
  }
  return true;
}

async function rebuildBench(threads) {
  // the helper threads load the optional native BLAS; so must this thread (one GEMM everywhere)
  await import('@attnfit/shared/native');
  machine.gemm = gemmBackendDetail();
  const { DynamicRebuildPool } = await import('@attnfit/worker');
  const pool = new DynamicRebuildPool(threads);
  const ns = opt('--n', '2048,4096').split(',').map(Number);
  const ds = opt('--d', '16').split(',').map(Number);
  const out = [];
  try {
    for (const n of ns)
      for (const d of ds) {
        const R = rng(99 + n + d);
        const s = Math.sqrt(3 / Math.sqrt(d));
        const Q = randMatrix(R, n * d, s),
          K = randMatrix(R, n * d, s),
          V = randMatrix(R, n * d, 1);
        for (const tau of TAUS) {
          const T = Math.max(1, Math.ceil(n ** tau - 1e-9));
          const one = DynamicAttention.init(Q, K, V, n, d, { tau, mode: MODE, shared: true, autoRebuild: false });
          const many = DynamicAttention.init(Q, K, V, n, d, { tau, mode: MODE, shared: true, autoRebuild: false });
          const t1 = [],
            tN = [],
            f1 = [],
            fN = [];
          let equal = true,
            keys = 0;
          for (let round = -1; round < ROUNDS; round++) {
            // round −1 warms up (JIT, helper threads)
            for (let u = 0; u < T; u++) {
              const r = Math.floor(R() * n),
                c = Math.floor(R() * d),
                x = (R() < 0.5 ? s : 1) * randn(R),
                isK = R() < 0.5;
              for (const da of [one, many]) {
                if (isK) da.updateK(r, c, x);
                else da.updateV(r, c, x);
              }
            }
            keys = one.stats().touchedKeys;
            let a = performance.now();
            one.rebuild();
            const dt1 = performance.now() - a;
            a = performance.now();
            await pool.rebuild(many);
            const dtN = performance.now() - a;
            equal &&= sameBits(one.sharedState(), many.sharedState());
            if (round >= 0) {
              t1.push(dt1);
              tN.push(dtN);
            }
            if (round < 2) {
              // a few full rebuilds (O(n²d)) too
              a = performance.now();
              one.rebuild({ full: true });
              const g1 = performance.now() - a;
              a = performance.now();
              await pool.rebuild(many, { full: true });
              const gN = performance.now() - a;
              equal &&= sameBits(one.sharedState(), many.sharedState());
              if (round >= 0) {
                f1.push(g1);
                fN.push(gN);
              }
            }
          }
          const row = {
            n,
            d,
            mode: one.mode,
            tau,
            T,
            touchedKeys: keys,
            threads,
            rounds: ROUNDS,
            incremental1Ms: median(t1),
            incrementalNMs: median(tN),
            full1Ms: median(f1),
            fullNMs: median(fN),
            bitwiseEqual: equal,
          };
          out.push(row);
          process.stderr.write(`${JSON.stringify(row)}\n`);
        }
      }
  } finally {
    await pool.destroy();
  }
  return out;
}

// ---------------------------------------------------------------- main
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  os: `${platform()} ${release()}`,
  memGiB: +(totalmem() / 2 ** 30).toFixed(1),
  gemm: gemmBackendDetail(),
  loadavg1m: +loadavg()[0].toFixed(2),
};
const config = { quick, ns: NS, ds: DS, ops: OPS, repeats: REPEATS, budgetMs: BUDGET_MS, tau: TAU };
process.stderr.write(`machine: ${JSON.stringify(machine)}\nconfig: ${JSON.stringify(config)}\n`);

if (REBUILD_THREADS >= 2) {
  const rrows = await rebuildBench(REBUILD_THREADS);
  const f2 = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
  const md = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.os}, node ${machine.node}, GEMM backend ${machine.gemm}, load avg ${machine.loadavg1m} at start.`,
    `Sharded rebuilds: ${REBUILD_THREADS} threads (caller + ${REBUILD_THREADS - 1} helper(s), shared memory) vs 1 thread; median of ${ROUNDS} incremental rebuilds (each after T = ⌈n^τ⌉ random entry updates) and of 2 full rebuilds.`,
    '',
    '| n | d | mode | τ | T | touched keys | incremental 1 thread ms | incremental N threads ms | speedup | full 1 thread ms | full N threads ms | speedup | bitwise equal |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rrows.map(
      (r) =>
        `| ${r.n} | ${r.d} | ${r.mode} | ${r.tau} | ${r.T} | ${r.touchedKeys} | ${f2(r.incremental1Ms)} | ${f2(r.incrementalNMs)} | ${(r.incremental1Ms / r.incrementalNMs).toFixed(2)}× | ${f2(r.full1Ms)} | ${f2(r.fullNMs)} | ${(r.full1Ms / r.fullNMs).toFixed(2)}× | ${r.bitwiseEqual ? 'yes' : 'NO'} |`,
    ),
    '',
  ].join('\n');
  const outDir = join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(outDir, `dynamic-rebuild-${stamp}.json`),
    JSON.stringify({ machine, threads: REBUILD_THREADS, rows: rrows }, null, 2),
  );
  writeFileSync(join(outDir, `dynamic-rebuild-${stamp}.md`), md);
  process.stdout.write(md);
  process.exit(rrows.every((r) => r.bitwiseEqual) ? 0 : 1);
}

const rows = [];
const us = (ms) => ms * 1000;
for (const n of NS)
  for (const d of DS) {
    const R = rng(1234 + n * 7 + d);
    const s = Math.sqrt(3 / Math.sqrt(d)); // logits with std ~3
    const Q = randMatrix(R, n * d, s),
      K = randMatrix(R, n * d, s),
      V = randMatrix(R, n * d, 1);
    // warm-up (JIT) of every method on a short sequence before anything is measured
    for (const method of Object.keys(METHODS)) {
      const warm = makeOps(rng(7), n, d, WORKLOADS[2], Math.min(200, OPS), s);
      runOnce(method, Q, K, V, n, d, warm.slice(0, method === 'recompute-all' ? 4 : warm.length));
    }
    for (const w of WORKLOADS) {
      const ops = makeOps(rng(n * 31 + d * 7 + w.name.length), n, d, w, OPS, s);
      const res = {};
      for (const method of Object.keys(METHODS)) {
        const reps = [];
        for (let k = 0; k < REPEATS; k++) {
          const r = runOnce(method, Q, K, V, n, d, ops);
          reps.push(r);
          if (r.extrapolated) break; // a budget-limited baseline is measured once
        }
        const tot = reps.map((r) => r.totalMs);
        const upd = reps.flatMap((r) => r.upd),
          qry = reps.flatMap((r) => r.qry);
        res[method] = {
          n,
          d,
          workload: w.name,
          method,
          ops: ops.length,
          opsMeasured: reps[0].done,
          extrapolated: reps[0].extrapolated,
          repeats: reps.length,
          totalMs: median(tot),
          initMs: median(reps.map((r) => r.initMs)),
          update: { p50us: us(pct(upd, 0.5)), p99us: us(pct(upd, 0.99)), maxUs: us(maxOf(upd)), count: upd.length },
          query: { p50us: us(pct(qry, 0.5)), p99us: us(pct(qry, 0.99)), maxUs: us(maxOf(qry)), count: qry.length },
          rebuildShare: median(reps.map((r) => r.rebuildShare)),
          memMiB: reps[0].bytes / 2 ** 20,
          stats: reps[0].stats,
        };
        process.stderr.write(
          `n=${n} d=${d} ${w.name} ${method}: ${res[method].totalMs.toFixed(1)} ms${reps[0].extrapolated ? ' (extrapolated)' : ''}\n`,
        );
      }
      for (const m of Object.keys(res)) res[m].speedupOverRecomputeAll = res['recompute-all'].totalMs / res[m].totalMs;
      rows.push(...Object.values(res));
    }
  }

const f = (x, digits = 1) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(digits)) : '–');
const header =
  '| n | d | upd:qry | method | total ms | vs recompute-all | update p50 / p99 / max µs | query p50 / p99 / max µs | rebuild share | memory MiB |';
const sep = '|---|---|---|---|---|---|---|---|---|---|';
const lines = rows.map(
  (r) =>
    `| ${r.n} | ${r.d} | ${r.workload} | ${r.method} | ${r.extrapolated ? '~' : ''}${f(r.totalMs)} | ${f(r.speedupOverRecomputeAll)}× | ${f(r.update.p50us)} / ${f(r.update.p99us)} / ${f(r.update.maxUs)} | ${f(r.query.p50us)} / ${f(r.query.p99us)} / ${f(r.query.maxUs)} | ${r.method.startsWith('lazy') || r.method === 'eager rank-one' ? `${(100 * r.rebuildShare).toFixed(0)}%` : '–'} | ${f(r.memMiB)} |`,
);
const md = [
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.os}, node ${machine.node}, GEMM backend ${machine.gemm}, load avg ${machine.loadavg1m} at start.`,
  `Config: ${OPS} ops per run, τ = ${TAU} (T = ⌈n^τ⌉), median of ${REPEATS} repeat(s), budget ${BUDGET_MS} ms per run (~ = extrapolated from the ops completed).`,
  '',
  header,
  sep,
  ...lines,
  '',
].join('\n');
const outDir = join(here, 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(join(outDir, `dynamic-${stamp}.json`), JSON.stringify({ machine, config, rows }, null, 2));
writeFileSync(join(outDir, `dynamic-${stamp}.md`), md);
process.stdout.write(md);
