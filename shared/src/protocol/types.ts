/**
 * attnfit wire protocol — the one versioned types file (STYLE 13). Every message is a msgpack map
 * with `v` (protocol version), a string `kind`, and a correlation id (`id` for tasks, `jobId`
 * for job messages). Handlers never throw out: every outcome is a reply (`result` or `error`).
 *
 * Bulk problem tensors never travel in these messages: they sit once in the JetStream Object
 * Store under a content hash ({@link ProblemRef}); per-iteration messages carry X, Y (d² numbers)
 * and row ranges only.
 */
import type { Partials, Want, WireError } from '@attnfit/shared/core';

/**
 * Bump on any incompatible change; receivers reply PROTOCOL errors to other versions.
 * 2: a task is a shard (rows [r0, r1) evaluated in blocks of `blockRows`, reduced in block
 * order) — a version-1 worker would silently compute it as one block.
 */
export const PROTOCOL_VERSION = 2;

/** Where a problem's tensors live: Object Store object `object`, sha256 `hash` of its bytes. */
export interface ProblemRef {
  /** Lower-case hex sha256 of the packed problem blob (see packProblem). */
  hash: string;
  n: number;
  d: number;
  /** Object Store object name (`problem-<hash>`). */
  object: string;
}

/** The quantities a block task asks for: the core `Want` (direction vectors are d×d). */
export type WireWant = Want;

/** Partials on the wire: the core `Partials`, with hessXX usually packed as its upper triangle. */
export interface WirePartials extends Partials {
  /** Upper triangle (row-major, j ≥ i) of the symmetric d²×d² Hessian: d²(d²+1)/2 numbers. */
  hessXXUpper?: Float64Array;
  /** The full d²×d² Hessian partial, only when it is not bit-exactly symmetric. */
  hessXX?: Float64Array;
}

/**
 * Coordinator → worker queue group, or one worker's direct subject: evaluate the shard of rows [r0, r1) of a problem at (X, Y):
 * its row blocks [r0, r0 + blockRows), [r0 + blockRows, …) (the last may be shorter) on the
 * worker's threads, their partials added in block order (one block [r0, r1) without blockRows).
 * Pure and idempotent: the same task always gives bitwise the same reply.
 */
export interface TaskMsg {
  v: number;
  kind: 'task';
  /** Correlation id, unique per attempt. */
  id: string;
  jobId: string;
  problem: ProblemRef;
  r0: number;
  r1: number;
  /** Rows per block within the shard (default: the whole range is one block). */
  blockRows?: number;
  X: Float64Array;
  Y: Float64Array;
  want: WireWant;
}

/** Worker → coordinator: the partials of one shard task (its blocks added in block order). */
export interface ResultMsg {
  v: number;
  kind: 'result';
  id: string;
  r0: number;
  r1: number;
  partials: WirePartials;
  /** Name of the worker that computed it (diagnostics). */
  worker?: string;
}

/** Any → any: an error reply, correlated by `id` (or the job id). */
export interface ErrorMsg {
  v: number;
  kind: 'error';
  id: string;
  error: WireError;
}

/** A frame of a message too large for max_payload; `total` frames with seq 0..total-1. */
export interface ChunkMsg {
  v: number;
  kind: 'chunk';
  id: string;
  seq: number;
  total: number;
  data: Uint8Array;
}

/** Solve options carried by a job (validated by validateJobSpec; names match the CLI). */
export interface JobSolveOptions {
  method?: string;
  tol?: number;
  gtol?: number;
  gamma?: number;
  maxIter?: number;
  starts?: number;
  seed?: number;
  x0?: Float64Array;
  y0?: Float64Array;
  /** Fit from scratch (the CLI's default without x0 and starts): the solver's search. */
  search?: boolean;
  /** Search caps: wall-clock seconds (> 0) and oracle evaluations (>= 1). */
  budgetSeconds?: number;
  maxEvals?: number;
}

/** What a submitter asks for. */
export interface JobSpec {
  problem: ProblemRef;
  options: JobSolveOptions;
  /** Free text label (e.g. the problem path). */
  name?: string;
}

/** Submitter → JetStream stream: a new job (the stream's message id is the job id). */
export interface SubmitMsg {
  v: number;
  kind: 'submit';
  jobId: string;
  spec: JobSpec;
  /** Epoch milliseconds. */
  submittedAt: number;
}

/** Submitter → JetStream stream: cancel a job. */
export interface CancelMsg {
  v: number;
  kind: 'cancel';
  jobId: string;
}

/** Coordinator → `attnfit.progress.<job>`: one solver iteration finished. */
export interface ProgressMsg {
  v: number;
  kind: 'progress';
  jobId: string;
  iteration: number;
  loss: number;
  relLoss: number;
  gradNorm?: number;
  /** Seconds since the job started running. */
  seconds?: number;
  /** Bytes the coordinator sent (tasks) and received (replies) for this iteration. */
  bytesSent?: number;
  bytesReceived?: number;
}

/** Coordinator → `attnfit.jobs.done`: a job ended; workers may evict its problem. */
export interface JobDoneMsg {
  v: number;
  kind: 'job.done';
  jobId: string;
  problemHash: string;
  state: JobState;
}

/**
 * Worker → `attnfit.workers.heartbeat`: who a worker is and what it has done, sent on start,
 * every heartbeat interval and once more (`state: 'stopping'`) when it drains. The coordinator's
 * dashboard and metrics read these; nothing depends on them for correctness.
 */
export interface WorkerHeartbeatMsg {
  v: number;
  kind: 'worker.heartbeat';
  /** NATS client name of the worker (unique per process). */
  name: string;
  host: string;
  pid: number;
  threads: number;
  /** GEMM kernel in use, e.g. "native-blas" or "wasm-simd (f64x2 FMA)". */
  gemm: string;
  /** attnfit version of the worker. */
  version: string;
  state: 'up' | 'stopping';
  /** Epoch milliseconds: process start and this message. */
  startedAt: number;
  sentAt: number;
  /** Milliseconds until the next heartbeat (a worker silent for ~3 intervals is presumed lost). */
  intervalMs: number;
  /** Block tasks answered since start (results and error replies). */
  tasks: number;
  errors: number;
  inFlight: number;
  /** Problems held in the cache now; problem fetches since start. */
  cached: number;
  fetches: number;
  /**
   * The worker's dispatch id (fresh per process, DISPATCH_ID_RE in subjects.ts): it also serves tasks on
   * `attnfit.task.<dispatchId>` (workerTaskSubject), and the coordinator addresses shards there
   * while this worker is live. Absent: the worker is reachable through the queue group only.
   * Optional and additive, so protocol version 2 is unchanged (older peers ignore it).
   */
  dispatchId?: string;
  /**
   * Ids of the tasks this worker is computing now (at most {@link MAX_WORKING_IDS}): a coordinator
   * whose task is listed here in a heartbeat sent after the task does not time it out — a shard
   * of a big problem may take longer than the task timeout, and the worker is visibly on it.
   * Optional and additive (protocol version 2 unchanged).
   */
  working?: string[];
}

/** At most this many task ids in a heartbeat's `working` list. */
export const MAX_WORKING_IDS = 256;

/** Job life cycle. queued → running → succeeded | failed | cancelled. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** Every job state, in lifecycle order (metrics report each, zero included). */
export const JOB_STATES: readonly JobState[] = Object.freeze(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);

/** Summary of a finished solve kept in the job record. */
export interface JobResultSummary {
  /** Object Store object holding {X, Y, report} (see packResult). */
  object: string;
  loss: number;
  relLoss: number;
  iterations: number;
  converged: boolean;
}

/** The job record kept in KV under `job.<id>`. */
export interface JobRecord {
  v: number;
  kind: 'job';
  id: string;
  state: JobState;
  name?: string;
  problem: ProblemRef;
  options: JobSolveOptions;
  /** Epoch milliseconds. */
  submittedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** Last completed iteration (checkpointed). */
  iteration: number;
  loss?: number;
  relLoss?: number;
  /** Iterations this job was resumed from after a coordinator restart. */
  resumedFrom: number[];
  cancelRequested?: boolean;
  error?: WireError;
  result?: JobResultSummary;
}

/** The checkpoint kept in KV under `ckpt.<id>`: enough for solve() hooks.resume. */
export interface CheckpointMsg {
  v: number;
  kind: 'checkpoint';
  jobId: string;
  iteration: number;
  /** Index of the start being run (multi-start solves). */
  start: number;
  X: Float64Array;
  Y: Float64Array;
  history: unknown[];
  /** Solver method state needed to continue deterministically (damping, radius, …). */
  state?: Record<string, unknown>;
  /** Set on a KV stub whose full checkpoint is in this Object Store object (too big for KV). */
  object?: string;
}

/** Every message kind the codec knows. */
export type WireMessage =
  | TaskMsg
  | ResultMsg
  | ErrorMsg
  | ChunkMsg
  | SubmitMsg
  | CancelMsg
  | ProgressMsg
  | JobDoneMsg
  | JobRecord
  | CheckpointMsg
  | WorkerHeartbeatMsg;
export type WireKind = WireMessage['kind'];
export const WIRE_KINDS: readonly WireKind[] = [
  'task',
  'result',
  'error',
  'chunk',
  'submit',
  'cancel',
  'progress',
  'job.done',
  'job',
  'checkpoint',
  'worker.heartbeat',
];
