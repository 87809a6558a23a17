/**
 * piscina thread entry for sharded dynamic-attention rebuilds (dist/dynamic-rebuild-thread.js;
 * the coordinator names it by path, see coordinator/src/dynamic/thread-session.ts). A task is
 * `{ state, plan, r0, r1 }`: the owner's shared state (SharedArrayBuffer views, not copied),
 * the rebuild plan (plain typed arrays, copied) and a row range of whole row blocks. The thread
 * attaches a view to the state, runs rebuildRows on its rows and resolves to the number of rows
 * it repaired exactly. Rows are independent, so threads write disjoint parts of the state.
 */
import { DynamicAttention, type DynamicSharedState, type RebuildPlan } from '@attnfit/shared/dynamic';
// Optional native BLAS (active only when built), as in every other thread entry: all threads of a
// process must use the same GEMM so sharded rebuilds are bitwise equal to single-thread ones.
import '@attnfit/shared/native';

/** One sharded-rebuild task. */
export interface DynamicRebuildTask {
  state: DynamicSharedState;
  plan: RebuildPlan;
  /** First row (inclusive). */
  r0: number;
  /** Last row (exclusive). */
  r1: number;
}

/** Run one task (default export: piscina calls it once per task). Throws on bad input. */
export default function runDynamicRebuild(task: DynamicRebuildTask): number {
  const da = DynamicAttention.attachShared(task.state);
  return da.rebuildRows(task.plan, task.r0, task.r1);
}
