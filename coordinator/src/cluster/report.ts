/**
 * report.json of a cluster job: the same fields as `attnfit solve` writes (loss, relLoss,
 * iterations, converged, stopReason, method, seconds, history, starts) plus a `cluster` block.
 */
import type { ProblemRef } from '@attnfit/shared/protocol';
import type { SolveResult } from '../solver/types.js';

/** Cluster facts added to the report. */
export interface ClusterReportExtra {
  jobId: string;
  problem: ProblemRef;
  workers: string[];
  tasks: number;
  retries: number;
  resumedFrom: number[];
  blockRows: number;
}

/** Build the JSON-safe report of a finished cluster solve (X, Y are stored separately). */
export function buildClusterReport(r: SolveResult, extra: ClusterReportExtra): Record<string, unknown> {
  return {
    loss: r.loss,
    relLoss: r.relLoss,
    objective: r.objective,
    gradNorm: r.gradNorm,
    iterations: r.iterations,
    converged: r.converged,
    stopReason: r.stopReason,
    message: r.message,
    method: r.method,
    interrupted: r.interrupted,
    seconds: r.seconds,
    bestStart: r.bestStart,
    history: r.history,
    starts: r.starts.map(({ X: _x, Y: _y, ...s }) => s),
    cluster: {
      jobId: extra.jobId,
      problemHash: extra.problem.hash,
      n: extra.problem.n,
      d: extra.problem.d,
      blockRows: extra.blockRows,
      workers: extra.workers,
      tasks: extra.tasks,
      retries: extra.retries,
      resumedFrom: extra.resumedFrom,
    },
  };
}
