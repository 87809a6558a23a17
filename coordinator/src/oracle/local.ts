/**
 * LocalOracle: the Oracle over the local engine (piscina threads, SharedArrayBuffer tensors).
 * InlineOracle: the same contract computed on the calling thread (tests, tiny problems).
 * Both evaluate the fixed two-level plan planTree(n, d) — row blocks grouped into shards — and
 * reduce through its tree (blocks in block order within a shard, shards in shard order), the
 * same tree the cluster uses, so results are bitwise identical for any thread or worker count.
 */
import { setMaxListeners } from 'node:events';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { dgemmBase, gemmBackendDetail } from '@attnfit/shared/kernels';
import {
  blockPartials,
  bNorm2,
  combinePartials,
  emptyPartials,
  foldInOrder,
  planTree,
  TreeReducer,
} from '@attnfit/shared/math';
import type { Partials, Problem, ShardPlan, Want } from '@attnfit/shared/math';
import { defaultThreads, getEnginePool } from '../engine/index.js';
import type { EnginePool, RegisteredProblem } from '../engine/index.js';
import type { CallOptions, Oracle, OracleInfo } from './types.js';

function checkXY(d: number, X: Float64Array, Y: Float64Array): void {
  if (!(X instanceof Float64Array) || X.length !== d * d)
    throw new AttnfitError(
      ErrorCodes.SHAPE_MISMATCH,
      `evaluate: X must be a Float64Array of d×d = ${d * d} (got length ${(X as { length?: number })?.length})`,
    );
  if (!(Y instanceof Float64Array) || Y.length !== d * d)
    throw new AttnfitError(
      ErrorCodes.SHAPE_MISMATCH,
      `evaluate: Y must be a Float64Array of d×d = ${d * d} (got length ${(Y as { length?: number })?.length})`,
    );
}

export { reduceInOrder } from '@attnfit/shared/math';

/** Block tasks in flight per thread of the local pool (results held at once: threads × this). */
export const BLOCKS_IN_FLIGHT_PER_THREAD = 2;

/** Options of the local oracles. */
export interface LocalOracleOptions {
  /** Threads (default os.availableParallelism()). */
  threads?: number;
  /** Rows per block (default defaultBlockRows(n, d)); must be the same everywhere for identical results. */
  blockRows?: number;
  /** Blocks per shard (default from planTree); must be the same everywhere for identical results. */
  shardBlocks?: number;
}

/** The plan options actually given (exactOptionalPropertyTypes: no undefined members). */
export function planOptions(o: { blockRows?: number | undefined; shardBlocks?: number | undefined }): {
  blockRows?: number;
  shardBlocks?: number;
} {
  const out: { blockRows?: number; shardBlocks?: number } = {};
  if (o.blockRows !== undefined) out.blockRows = o.blockRows;
  if (o.shardBlocks !== undefined) out.shardBlocks = o.shardBlocks;
  return out;
}

abstract class BaseOracle implements Oracle {
  readonly n: number;
  readonly d: number;
  readonly bNorm2: number;
  readonly blockRows: number;
  /** The two-level plan (blocks and shards) every evaluation reduces through. */
  readonly plan: ShardPlan;
  protected closed = false;
  readonly keyMean: Float64Array;
  constructor(
    protected readonly problem: Problem,
    opts: { blockRows?: number; shardBlocks?: number },
  ) {
    const p = problem;
    if (!(p.n >= 1 && p.d >= 1))
      throw new AttnfitError(ErrorCodes.EMPTY, `problem: n and d must be >= 1 (got n=${p.n}, d=${p.d})`);
    this.n = p.n;
    this.d = p.d;
    this.bNorm2 = bNorm2(p);
    this.plan = planTree(p.n, p.d, planOptions(opts));
    this.blockRows = this.plan.blockRows;
    this.keyMean = columnMean(p.A2, p.n, p.d);
  }
  abstract gram(): Promise<{ G1: Float64Array; G2: Float64Array }>;
  abstract info(): OracleInfo;
  /**
   * Compute the partials of the row blocks `blocks` (row ranges) and hand them to `sink` in
   * order — the engine-specific part of every evaluation.
   */
  protected abstract runBlocks(
    blocks: Array<[number, number]>,
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    opts: CallOptions,
    sink: (p: Partials) => void,
  ): Promise<void>;
  /** Sum of all block partials through the plan's shard tree. */
  async evaluate(X: Float64Array, Y: Float64Array, want: Want, opts: CallOptions = {}): Promise<Partials> {
    this.checkOpen();
    checkXY(this.d, X, Y);
    const tree = new TreeReducer(this.plan);
    await this.runBlocks(this.plan.blocks, X, Y, want, opts, (p) => tree.add(p));
    return tree.result();
  }
  /**
   * The row-subset view over the plan's blocks `blocks` (see Oracle.rowSubset). Example:
   * `const s = oracle.rowSubset(subsetBlocks(oracle.plan.blocks.length, 0.25, seed));`
   */
  rowSubset(blocks: readonly number[]): Oracle {
    const nb = this.plan.blocks.length;
    const ok =
      Array.isArray(blocks) &&
      blocks.length >= 1 &&
      blocks.every((b, i) => Number.isInteger(b) && b >= 0 && b < nb && (i === 0 || b > blocks[i - 1]!));
    if (!ok)
      throw new AttnfitError(
        ErrorCodes.BAD_OPTION,
        `rowSubset: blocks must be strictly increasing block indices in [0, ${nb}) (got ${JSON.stringify(blocks)})`,
        { details: { field: 'blocks', value: blocks } },
      );
    return new RowSubsetOracle(this, Array.from(blocks));
  }
  /** @internal Evaluate a row subset: the given blocks' partials in block order from emptyPartials. */
  async evaluateSubset(
    ranges: Array<[number, number]>,
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    opts: CallOptions,
  ): Promise<Partials> {
    this.checkOpen();
    checkXY(this.d, X, Y);
    const acc = emptyPartials();
    await this.runBlocks(ranges, X, Y, want, opts, (p) => combinePartials(acc, p));
    return acc;
  }
  /** @internal */
  get problemData(): Problem {
    return this.problem;
  }
  protected checkOpen(): void {
    if (this.closed) throw new AttnfitError(ErrorCodes.INTERNAL, 'oracle is closed');
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * Oracle over the process's piscina pool. Example:
 * `const o = new LocalOracle(problem, { threads: 2 }); const p = await o.evaluate(X, Y, { loss: true });`
 */
export class LocalOracle extends BaseOracle {
  private readonly pool: EnginePool;
  private readonly reg: RegisteredProblem;
  private gramCache: Promise<{ G1: Float64Array; G2: Float64Array }> | null = null;
  constructor(p: Problem, opts: LocalOracleOptions = {}) {
    super(p, opts);
    this.pool = getEnginePool(opts.threads ?? defaultThreads());
    this.reg = this.pool.register(p);
  }
  async gram(): Promise<{ G1: Float64Array; G2: Float64Array }> {
    this.checkOpen();
    this.gramCache ??= this.pool.gram(this.reg);
    return this.gramCache;
  }
  protected async runBlocks(
    blocks: Array<[number, number]>,
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    opts: CallOptions,
    sink: (p: Partials) => void,
  ): Promise<void> {
    // Blocks run in parallel on the threads; results are handed to the sink (the shard tree) in
    // block order as they complete, with at most BLOCKS_IN_FLIGHT_PER_THREAD per thread held at once.
    const deadline = opts.timeoutMs === undefined ? undefined : performance.now() + opts.timeoutMs;
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    setMaxListeners(0, signal); // one listener per block call in flight (may exceed 10)
    try {
      await foldInOrder(
        blocks.length,
        this.pool.threads * BLOCKS_IN_FLIGHT_PER_THREAD,
        1,
        (i0, i1) => {
          const run: { signal: AbortSignal; timeoutMs?: number } = { signal };
          if (deadline !== undefined) run.timeoutMs = Math.max(0, deadline - performance.now());
          return this.pool.blocks(this.reg, blocks.slice(i0, i1), X, Y, want, run).catch((err: unknown) => {
            stop.abort(err); // the first failure stops the other blocks in flight
            throw err;
          });
        },
        sink,
      );
    } finally {
      stop.abort();
    }
  }
  info(): OracleInfo {
    return {
      kind: 'local',
      threads: this.pool.threads,
      blockRows: this.blockRows,
      blocks: this.plan.blocks.length,
      shards: this.plan.shards.length,
      shardBlocks: this.plan.shardBlocks,
      gemm: gemmBackendDetail(),
    };
  }
}

/**
 * The same contract without threads: blocks computed in order on the calling thread (checks the
 * AbortSignal between blocks). Bitwise identical to LocalOracle.
 */
export class InlineOracle extends BaseOracle {
  constructor(p: Problem, opts: Pick<LocalOracleOptions, 'blockRows' | 'shardBlocks'> = {}) {
    super(p, opts);
  }
  async gram(): Promise<{ G1: Float64Array; G2: Float64Array }> {
    this.checkOpen();
    const { n, d, A1, A2 } = this.problem;
    const G1 = new Float64Array(d * d),
      G2 = new Float64Array(d * d);
    dgemmBase(true, false, d, d, n, 1, A1, 0, d, A1, 0, d, 0, G1, 0, d);
    dgemmBase(true, false, d, d, n, 1, A2, 0, d, A2, 0, d, 0, G2, 0, d);
    return { G1, G2 };
  }
  protected async runBlocks(
    blocks: Array<[number, number]>,
    X: Float64Array,
    Y: Float64Array,
    want: Want,
    opts: CallOptions,
    sink: (p: Partials) => void,
  ): Promise<void> {
    for (const [r0, r1] of blocks) {
      if (opts.signal?.aborted) throw new AttnfitError(ErrorCodes.CANCELLED, 'evaluation cancelled');
      sink(blockPartials(this.problem, r0, r1, X, Y, want));
    }
  }
  info(): OracleInfo {
    return {
      kind: 'inline',
      threads: 1,
      blockRows: this.blockRows,
      blocks: this.plan.blocks.length,
      shards: this.plan.shards.length,
      shardBlocks: this.plan.shardBlocks,
      gemm: gemmBackendDetail(),
    };
  }
}

/** Column means of a row-major n×d matrix (summed in row order: deterministic). */
export function columnMean(A: Float64Array, n: number, d: number): Float64Array {
  const m = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) m[k]! += A[i * d + k]!;
  for (let k = 0; k < d; k++) m[k]! /= n;
  return m;
}

/**
 * The row-subset view of a local oracle (Oracle.rowSubset): the selected row blocks of the parent's
 * plan, every key kept. Evaluations run on the parent's engine (threads or inline) and add the
 * blocks' partials in block order; ‖B‖² and G1 are those of the selected rows, G2 the parent's.
 */
class RowSubsetOracle implements Oracle {
  readonly n: number;
  readonly d: number;
  readonly bNorm2: number;
  readonly keyMean: Float64Array;
  /** Query rows in the subset. */
  readonly rows: number;
  private readonly ranges: Array<[number, number]>;
  private gramCache: Promise<{ G1: Float64Array; G2: Float64Array }> | null = null;
  constructor(
    private readonly parent: BaseOracle,
    readonly blocks: number[],
  ) {
    const p = parent.problemData;
    this.n = p.n;
    this.d = p.d;
    this.keyMean = parent.keyMean;
    this.ranges = blocks.map((b) => parent.plan.blocks[b]!);
    let s = 0,
      rows = 0;
    for (const [r0, r1] of this.ranges) {
      rows += r1 - r0;
      for (let i = r0 * p.d; i < r1 * p.d; i++) s += p.B[i]! * p.B[i]!;
    }
    this.bNorm2 = s;
    this.rows = rows;
  }
  gram(): Promise<{ G1: Float64Array; G2: Float64Array }> {
    this.gramCache ??= this.parent.gram().then(({ G2 }) => {
      const { d, A1 } = this.parent.problemData;
      const G1 = new Float64Array(d * d);
      for (const [r0, r1] of this.ranges)
        dgemmBase(true, false, d, d, r1 - r0, 1, A1, r0 * d, d, A1, r0 * d, d, 1, G1, 0, d);
      return { G1, G2 };
    });
    return this.gramCache;
  }
  async evaluate(X: Float64Array, Y: Float64Array, want: Want, opts: CallOptions = {}): Promise<Partials> {
    return this.parent.evaluateSubset(this.ranges, X, Y, want, opts);
  }
  info(): OracleInfo {
    return { ...this.parent.info(), blocks: this.ranges.length, shards: 1, shardBlocks: this.ranges.length };
  }
  async close(): Promise<void> {}
}
