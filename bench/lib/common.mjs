// Shared helpers for attnfit benchmarks: machine description, robust statistics (median of ≥ 5
// runs with min–max), markdown tables, numpy subprocess runner, and result files in
// bench/results/ (gitignored). Benchmarks only — nothing in the product imports this.
import { cpus, totalmem } from 'node:os';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = join(benchDir, '..');
export const resultsDir = join(benchDir, 'results');

/** Runs per measurement (median reported); BENCH_RUNS overrides, never below 5. */
export const RUNS = Math.max(5, Number(process.env.BENCH_RUNS) || 5);

/** CPU model, cores, node version, load average; `gemm` is filled in by the caller. */
export function machine(extra = {}) {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1].trim();
  } catch {
    /* not Linux: os.cpus() model is used */
  }
  let flags = '';
  try {
    flags = /flags\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    /* idem */
  }
  const simd = ['avx512f', 'avx2', 'fma'].filter((f) => flags.split(' ').includes(f)).join(' ');
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    /* idem */
  }
  return {
    cpu: model,
    cores: cpus().length,
    simd,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavg: load,
    date: new Date().toISOString(),
    ...extra,
  };
}

/** Median, min, max of numbers. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1], runs: s.length };
}

/** Times `fn` (after `warmup` untimed calls) `runs` times; returns stats in milliseconds. */
export function timeMs(fn, runs = RUNS, warmup = 1) {
  for (let i = 0; i < warmup; i++) fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return stats(t);
}

/** Markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fmt = (x, digits = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(digits));

/** python3 with numpy available? Returns the numpy/BLAS description or null. */
export function numpyInfo() {
  const r = spawnSync('python3', ['-c', 'import numpy, json; print(json.dumps({"numpy": numpy.__version__}))'], {
    encoding: 'utf8',
    env: numpyEnv(),
  });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout);
  } catch {
    return null;
  }
}

/**
 * Environment for numpy subprocesses: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed for
 * that command only (this machine's environment pins OpenBLAS to a Haswell kernel, which would
 * understate numpy), and OpenBLAS / OpenMP are limited to one thread like attnfit's single thread.
 */
export function numpyEnv() {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** Runs a python script in bench/ with JSON on stdout; throws with its stderr on failure. */
export function runPython(script, args) {
  const r = spawnSync('python3', [join(benchDir, script), ...args], {
    encoding: 'utf8',
    env: numpyEnv(),
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Writes NAME.json and NAME.md into bench/results/; returns the two paths. */
export function writeResults(name, json, markdown) {
  mkdirSync(resultsDir, { recursive: true });
  const j = join(resultsDir, `${name}.json`),
    m = join(resultsDir, `${name}.md`);
  writeFileSync(j, JSON.stringify(json, null, 2) + '\n');
  writeFileSync(m, markdown + '\n');
  return [j, m];
}

/** Machine block as markdown lines; `threadsLine` replaces the "one thread everywhere" line. */
export function machineMd(m, threadsLine) {
  return [
    `- CPU: ${m.cpu} (${m.cores} cores${m.simd ? `, ${m.simd}` : ''}), ${m.memGiB} GiB`,
    `- node ${m.node}; gemm backend ${m.gemm ?? '?'}; exp kernel ${m.vexp ?? '?'}; numpy ${m.numpy ?? 'absent'}`,
    `- load average at start: ${m.loadavg}; ${m.date}`,
    threadsLine ??
      `- one thread everywhere (numpy: OPENBLAS_NUM_THREADS=1; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for the numpy command only)`,
    `- medians of ${RUNS} runs, min–max in brackets. A shared or loaded machine makes numbers noisy: re-run on a quiet one.`,
  ].join('\n');
}

/** Deterministic normal random Float64Array (mulberry32 + Box–Muller), scaled. */
export function randn(n, seed, scale = 1) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    out[i] = scale * Math.sqrt(-2 * Math.log(Math.max(u(), 1e-300))) * Math.cos(2 * Math.PI * u());
  return out;
}

export { existsSync };
