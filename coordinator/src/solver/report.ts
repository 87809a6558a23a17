/**
 * report.json and the output directory of a solve (X.npy, Y.npy, report.json, loss.svg),
 * written atomically as a group (temp files + rename). Shared by `attnfit solve` and the
 * cluster's result writer.
 */
import { join } from 'node:path';
import { encodeNpy, writeFilesAtomic } from '@attnfit/shared/io';
import { lossCurveSvg, searchCurveSvg } from './plot.js';
import type { IterationRecord, SearchReport, SolveOptions, SolveResult, StopReason } from './types.js';

/** Network bytes of a solve on the cluster: sent (tasks) and received (replies). */
export interface TrafficBytes {
  bytesSent: number;
  bytesReceived: number;
}

/** An iteration record in report.json: on the cluster with its traffic. */
export type ReportIteration = IterationRecord & Partial<TrafficBytes>;

/** What buildReport needs to know of a solve's traffic (see TrafficLog). */
export interface TrafficSource {
  get(start: number, iteration: number): TrafficBytes | undefined;
  total(): TrafficBytes;
}

/** One start in report.json (no matrices). */
export interface StartReport {
  start: number;
  init: 'x0' | 'random' | 'search';
  seed?: number;
  loss: number | null;
  relLoss: number | null;
  iterations: number;
  converged: boolean;
  stopReason: StopReason;
  message: string;
  seconds: number;
  history: ReportIteration[];
}

/** report.json. Non-finite numbers are written as null. */
export interface SolveReport {
  loss: number | null;
  relLoss: number | null;
  objective: number | null;
  gradNorm: number | null;
  iterations: number;
  converged: boolean;
  stopReason: StopReason;
  message: string;
  interrupted: boolean;
  method: string;
  seconds: number;
  threads: number | null;
  gemm: string;
  n: number;
  d: number;
  oracle: string;
  blockRows: number;
  /** Shards of the plan (the unit a cluster worker computes) and blocks per shard. */
  shards?: number;
  shardBlocks?: number;
  /** Cluster solves: network bytes of the whole solve (per iteration in each history entry). */
  traffic?: TrafficBytes;
  options: {
    tol: number;
    gtol: number;
    maxIter: number;
    starts: number;
    seed: number;
    gamma: number;
    x0: boolean;
    y0: boolean;
    search: boolean;
  };
  bestStart: number;
  history: ReportIteration[];
  starts: StartReport[];
  /** Present when the fit-from-scratch search ran: every start tried, why it stopped. */
  search?: SearchReport;
}

function fin(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/** Build report.json from a result and its context. */
export function buildReport(
  r: SolveResult,
  ctx: {
    n: number;
    d: number;
    threads: number | null;
    gemm: string;
    oracle: string;
    blockRows: number;
    shards?: number;
    shardBlocks?: number;
    seconds: number;
    options: Omit<SolveOptions, 'x0' | 'y0' | 'method'> & { x0?: unknown; y0?: unknown };
    /** Per-iteration and total network bytes (cluster oracles). */
    traffic?: TrafficSource;
  },
): SolveReport {
  const o = ctx.options;
  const tr = ctx.traffic;
  const withTraffic = (start: number, h: IterationRecord[]): ReportIteration[] =>
    tr ? h.map((rec) => ({ ...rec, ...tr.get(start, rec.iteration) })) : h;
  return {
    loss: fin(r.loss),
    relLoss: fin(r.relLoss),
    objective: fin(r.objective),
    gradNorm: fin(r.gradNorm),
    iterations: r.iterations,
    converged: r.converged,
    stopReason: r.stopReason,
    message: r.message,
    interrupted: r.interrupted,
    method: r.method,
    seconds: ctx.seconds,
    threads: ctx.threads,
    gemm: ctx.gemm,
    n: ctx.n,
    d: ctx.d,
    oracle: ctx.oracle,
    blockRows: ctx.blockRows,
    ...(ctx.shards !== undefined ? { shards: ctx.shards } : {}),
    ...(ctx.shardBlocks !== undefined ? { shardBlocks: ctx.shardBlocks } : {}),
    ...(tr ? { traffic: tr.total() } : {}),
    options: {
      tol: o.tol,
      gtol: o.gtol,
      maxIter: o.maxIter,
      starts: o.starts,
      seed: o.seed,
      gamma: o.gamma,
      x0: o.x0 !== undefined,
      y0: o.y0 !== undefined,
      search: r.search !== undefined,
    },
    bestStart: r.bestStart,
    history: withTraffic(r.bestStart, r.history),
    starts: r.starts.map((s) => {
      const e: StartReport = {
        start: s.start,
        init: s.init,
        loss: fin(s.loss),
        relLoss: fin(s.relLoss),
        iterations: s.iterations,
        converged: s.converged,
        stopReason: s.stopReason,
        message: s.message,
        seconds: s.seconds,
        history: withTraffic(s.start, s.history),
      };
      if (s.seed !== undefined) e.seed = s.seed;
      return e;
    }),
    ...(r.search ? { search: r.search } : {}),
  };
}

/** Write X.npy, Y.npy, report.json and loss.svg into `dir` atomically (created if missing). */
export async function writeSolveOutputs(
  dir: string,
  X: Float64Array,
  Y: Float64Array,
  d: number,
  report: SolveReport,
): Promise<void> {
  const title = `attnfit solve — ${report.method}, n=${report.n} d=${report.d}, relative loss ${report.relLoss === null ? 'n/a' : report.relLoss.toExponential(2)}`;
  await writeFilesAtomic([
    { path: join(dir, 'X.npy'), data: encodeNpy(X, [d, d]) },
    { path: join(dir, 'Y.npy'), data: encodeNpy(Y, [d, d]) },
    {
      path: join(dir, 'loss.svg'),
      data: report.search
        ? searchCurveSvg(report.search.bestSoFar, `${title} — search`)
        : lossCurveSvg(report.history, title),
    },
    { path: join(dir, 'report.json'), data: `${JSON.stringify(report, null, 2)}\n` },
  ]);
}
