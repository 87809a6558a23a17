// Simulated cluster workers for the scaling benchmark (bench/scaling.mjs, docs/cluster.md
// "Scaling curve (simulated)"). A simulated worker is a real WorkerService (its NATS connection,
// queue-group subscription, heartbeats and TaskServer, which decodes each task and encodes and
// chunks each reply) whose compute is replaced (the service's `compute` option) by a timer: after
// a modelled delay it answers with precomputed partials of the right shape for the task's kind.
// Nothing burns CPU while "computing", so hundreds of simulated workers fit on two cores.
//
// The delay model, per shard task of E = (r1 − r0)·n attention elements:
//   coordinator egress (shared by all workers, FIFO): task bytes / bwCoord
//   worker link:   latency + task bytes / bw
//   compute:       E · nsPerElement[kind] / threads · slowdown, FIFO per worker (one shard at a
//                  time on all its threads, as evaluateShard spreads a shard's blocks over the pool)
//   worker link:   reply bytes / bw (FIFO per worker)
//   coordinator ingress (shared, FIFO, starts when the compute is done): reply bytes / bwCoord
//   latency
// The shared coordinator links are a clock in a SharedArrayBuffer (absolute µs), so every worker
// thread of a sim host reserves the same link. modelEvaluation() runs the same model as a plain
// event computation (no NATS, no coordinator), plus the coordinator's per-reply CPU cost.
// Benchmarks and their test only — nothing in the product imports this.
import { createHash } from 'node:crypto';
import { startWorkerService } from '../../worker/dist/service.js';
import {
  PROTOCOL_VERSION,
  encode,
  partialsToWire,
  toFrames,
  DEFAULT_MAX_PAYLOAD,
} from '../../shared/dist/protocol/index.js';

/** Defaults of the model's parameters (documented in docs/cluster.md). */
export const SIM_DEFAULTS = Object.freeze({
  threads: 8, // threads per simulated worker (a node with 8 cores; compute scales ideally over them)
  bw: 1e9, // bytes/s of each worker's link
  bwCoord: 1e9, // bytes/s of the coordinator's link (shared by all workers, each direction)
  latencyMs: 0.2, // one-way latency per message
  slowdown: 1, // compute slowdown (>1 when workers share cores: max(1, workers·threads / cores))
});

/** The kind key of a wanted set, as NatsOracle computes it (sorted keys of the wire want). */
export function kindOf(want) {
  return Object.keys(want)
    .filter((k) => want[k] !== undefined && want[k] !== false)
    .sort()
    .join(',');
}

/** Deterministic pseudo-random numbers in (−0.5, 0.5) (plausible values only). */
function fill(len, seed) {
  const a = new Float64Array(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) / 4294967296 - 0.5;
  }
  return a;
}

/** Partials of the right shape for `want` at dimension d (hessXX exactly symmetric, so it is packed). */
export function fakePartials(want, d, rows) {
  const dd = d * d;
  const p = { rows };
  if (want.loss) p.loss = 1;
  for (const k of ['gradX', 'gradY', 'hvpX', 'mixedXY', 'mixedYX']) if (want[k]) p[k] = fill(dd, dd + k.length);
  if (want.normal) {
    p.MtM = fill(dd, 3);
    p.MtB = fill(dd, 4);
  }
  if (want.hessXY) p.hessXY = fill(dd * dd, 5);
  if (want.hessXX) {
    const h = fill(dd * dd, 6);
    for (let i = 0; i < dd; i++) for (let j = 0; j < i; j++) h[i * dd + j] = h[j * dd + i];
    p.hessXX = h;
  }
  return p;
}

/** Bytes of the result message(s) a worker sends for `want` (same encoding as TaskServer). */
export function replyBytes(want, d, maxPayload = DEFAULT_MAX_PAYLOAD) {
  const msg = {
    v: PROTOCOL_VERSION,
    kind: 'result',
    id: 'x'.repeat(22),
    r0: 0,
    r1: 1,
    partials: partialsToWire(fakePartials(want, d, 1), d),
    worker: 'attnfit-sim-000-000',
  };
  return toFrames(msg.id, encode(msg), maxPayload).reduce((s, f) => s + f.length, 0);
}

/** A problem reference for simulated workers: never fetched (hash of "sim n×d"). */
export function simProblemRef(n, d) {
  const hash = createHash('sha256').update(`attnfit-sim ${n}x${d}`).digest('hex');
  return { hash, n, d, object: `problem-${hash}` };
}

/** Shared link clocks: slot 0 coordinator ingress, slot 1 coordinator egress (absolute µs). */
export function linkClock(sab = new SharedArrayBuffer(16)) {
  const a = new BigInt64Array(sab);
  return {
    sab,
    /** Reserve `ms` of the link no earlier than `atMs` (absolute ms); returns the end (absolute ms). */
    reserve(slot, atMs, ms) {
      const at = BigInt(Math.round(atMs * 1000));
      const dur = BigInt(Math.round(ms * 1000));
      for (;;) {
        const cur = Atomics.load(a, slot);
        const end = (cur > at ? cur : at) + dur;
        if (Atomics.compareExchange(a, slot, cur, end) === cur) return Number(end) / 1000;
      }
    },
  };
}

const nowMs = () => performance.timeOrigin + performance.now();
const sleepUntil = (t) => new Promise((r) => setTimeout(r, Math.max(0, t - nowMs())));

/**
 * The fake compute of one simulated worker: resolves with precomputed partials after the
 * modelled delay (see the file comment). `params`: { nsPerElement: {kind: ns}, threads, bw,
 * bwCoord, latencyMs, slowdown, maxPayload }; `link`: a linkClock shared by the workers.
 */
export function fakeCompute(params, link) {
  const p = { ...SIM_DEFAULTS, ...params };
  const cache = new Map();
  let busyUntil = 0,
    egressFree = 0;
  return async (task) => {
    const t0 = nowMs();
    const d = task.problem.d;
    const kind = kindOf(task.want);
    const rows = task.r1 - task.r0;
    let c = cache.get(kind);
    if (!c) {
      c = { parts: fakePartials(task.want, d, 1), bytes: replyBytes(task.want, d, p.maxPayload) };
      cache.set(kind, c);
    }
    const ns = p.nsPerElement[kind] ?? p.nsPerElement.default;
    if (!(ns > 0)) throw new Error(`sim: no compute rate for kind ${kind}`);
    const taskBytes = encode(task).length;
    const sent = link.reserve(1, t0, (taskBytes / p.bwCoord) * 1e3);
    const arrived = Math.max(sent, t0 + (taskBytes / p.bw) * 1e3) + p.latencyMs;
    const start = Math.max(arrived, busyUntil);
    const done = start + (rows * task.problem.n * ns * 1e-6 * p.slowdown) / p.threads;
    busyUntil = done;
    await sleepUntil(done);
    const out = Math.max(nowMs(), egressFree) + (c.bytes / p.bw) * 1e3;
    egressFree = out;
    const ingress = link.reserve(0, nowMs(), (c.bytes / p.bwCoord) * 1e3);
    await sleepUntil(Math.max(out, ingress) + p.latencyMs);
    return { ...c.parts, rows };
  };
}

/**
 * Start `count` simulated workers (real WorkerServices, one NATS connection each) in this thread.
 * Returns { workers, drain() }.
 */
export async function startSimWorkers({ servers, count, params, sab, prefix = 'attnfit-sim', heartbeatMs, log }) {
  const link = linkClock(sab);
  const workers = [];
  try {
    for (let i = 0; i < count; i++) {
      const o = {
        servers,
        name: `${prefix}-${String(i).padStart(3, '0')}`,
        threads: params.threads ?? SIM_DEFAULTS.threads,
        compute: fakeCompute(params, link),
        log: log ?? (() => undefined),
      };
      if (heartbeatMs !== undefined) o.heartbeatMs = heartbeatMs;
      workers.push(await startWorkerService(o));
    }
  } catch (err) {
    await Promise.allSettled(workers.map((w) => w.drain()));
    throw err;
  }
  return { workers, drain: () => Promise.all(workers.map((w) => w.drain())) };
}

/** Seeded uniform RNG (mulberry32): the solver's own, re-exported for the benchmark's random assignments. */
export { rng as prng } from '../../coordinator/dist/solver/linalg.js';

/**
 * The model without NATS: one evaluation of `shards` (array of row counts) at n, each shard sent
 * at time 0 in shard order to worker `assign[i]`, the same delays as fakeCompute, and then the
 * coordinator's CPU per reply (`coordMs`, FIFO). Returns the evaluation's duration in ms.
 * `p`: { ns, threads, bw, bwCoord, latencyMs, slowdown, taskBytes, replyBytes, coordMs, taskMs }.
 */
export function modelEvaluation(shardRows, n, assign, p) {
  const S = shardRows.length;
  const busy = new Map(),
    egress = new Map();
  let egressCoord = 0;
  const done = [];
  for (let i = 0; i < S; i++) {
    const w = assign[i];
    const t0 = (i + 1) * p.taskMs; // the coordinator encodes and publishes tasks one by one
    egressCoord = Math.max(egressCoord, t0) + (p.taskBytes / p.bwCoord) * 1e3;
    const arrived = Math.max(egressCoord, t0 + (p.taskBytes / p.bw) * 1e3) + p.latencyMs;
    const start = Math.max(arrived, busy.get(w) ?? 0);
    const end = start + (shardRows[i] * n * p.ns * 1e-6 * p.slowdown) / p.threads;
    busy.set(w, end);
    done.push({ w, end });
  }
  // Replies in the order their compute ends: worker link, then the shared coordinator ingress.
  done.sort((a, b) => a.end - b.end);
  let ingress = 0,
    coord = 0;
  const arrivals = [];
  for (const { w, end } of done) {
    const out = Math.max(end, egress.get(w) ?? 0) + (p.replyBytes / p.bw) * 1e3;
    egress.set(w, out);
    ingress = Math.max(ingress, end) + (p.replyBytes / p.bwCoord) * 1e3;
    arrivals.push(Math.max(out, ingress) + p.latencyMs);
  }
  arrivals.sort((a, b) => a - b);
  for (const a of arrivals) coord = Math.max(coord, a) + p.coordMs;
  return coord;
}

/** Shard → worker assignments: `spread` (round robin) or `random` (the queue group's choice). */
export function assignment(S, N, how, rand) {
  return Array.from({ length: S }, (_, i) => (how === 'spread' ? i % N : Math.floor(rand() * N)));
}
