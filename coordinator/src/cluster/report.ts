/**
 * report.json of a cluster job: exactly the fields `attnfit solve` writes (the solver's
 * buildReport, oracle "nats") plus a `cluster` block (job id, problem hash, workers, tasks,
 * retries, resumes).
 */
import type { ProblemRef } from '@attnfit/shared/protocol';
import { buildReport } from '../solver/index.js';
import type { TrafficSource } from '../solver/report.js';
import type { SolveOptions, SolveResult } from '../solver/types.js';

/** Cluster facts added to the report. */
export interface ClusterReportExtra {
  jobId: string;
  problem: ProblemRef;
  workers: string[];
  tasks: number;
  retries: number;
  /** Shard attempts sent again because they were overdue relative to their peers. */
  hedges: number;
  resumedFrom: number[];
  blockRows: number;
  shards: number;
  shardBlocks: number;
  /** Per-iteration and total bytes the coordinator sent and received. */
  traffic: TrafficSource;
  gemm: string;
  /** Effective solve options. */
  options: SolveOptions;
}

/** Build the JSON-safe report of a finished cluster solve (X, Y are stored separately). */
export function buildClusterReport(r: SolveResult, extra: ClusterReportExtra): Record<string, unknown> {
  const { method: _m, ...options } = extra.options;
  const base = buildReport(r, {
    n: extra.problem.n,
    d: extra.problem.d,
    threads: null,
    gemm: extra.gemm,
    oracle: 'nats',
    blockRows: extra.blockRows,
    shards: extra.shards,
    shardBlocks: extra.shardBlocks,
    seconds: r.seconds,
    options,
    traffic: extra.traffic,
  });
  return {
    ...base,
    cluster: {
      jobId: extra.jobId,
      problemHash: extra.problem.hash,
      workers: extra.workers,
      tasks: extra.tasks,
      retries: extra.retries,
      hedges: extra.hedges,
      resumedFrom: extra.resumedFrom,
    },
  };
}
