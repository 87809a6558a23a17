/**
 * Subjects, queue groups and JetStream resource names. One place, so the deploy configs'
 * permissions (deploy/nats-server.conf) and the code agree.
 */

/**
 * Block tasks (request/reply) go here; workers join {@link TASK_QUEUE}. The fallback path: the
 * coordinator addresses shards to live workers on {@link workerTaskSubject} and uses the queue
 * group only while it knows none (heartbeats off, or none heard yet).
 */
export const TASK_SUBJECT = 'attnfit.task';
/** Queue group of the workers. */
export const TASK_QUEUE = 'attnfit-workers';
/** Job submissions (JetStream stream {@link JOBS_STREAM}). */
export const SUBMIT_SUBJECT = 'attnfit.jobs.submit';
/** Job cancellations (same stream, same durable consumer, so order is kept). */
export const CANCEL_SUBJECT = 'attnfit.jobs.cancel';
/** "A job ended" events (plain NATS): workers evict the job's cached problem. */
export const JOB_DONE_SUBJECT = 'attnfit.jobs.done';
/**
 * Worker heartbeats (plain NATS, {@link WorkerHeartbeatMsg}): read by the coordinator's dashboard
 * and by its shard dispatch (which workers are live, and their direct task subjects).
 */
export const WORKER_HEARTBEAT_SUBJECT = 'attnfit.workers.heartbeat';
/**
 * "Send a heartbeat now" (plain NATS, empty body): a coordinator that starts dispatching publishes
 * it once, so it learns the live workers at once instead of after a heartbeat interval.
 */
export const WORKER_PING_SUBJECT = 'attnfit.workers.ping';
/** Progress events: `attnfit.progress.<jobId>`. */
export const PROGRESS_PREFIX = 'attnfit.progress';
/** JetStream stream holding submissions and cancellations. */
export const JOBS_STREAM = 'ATTNFIT_JOBS';
/** Subjects of {@link JOBS_STREAM}. */
export const JOBS_STREAM_SUBJECTS: readonly string[] = [SUBMIT_SUBJECT, CANCEL_SUBJECT];
/** Durable consumer of the coordinator. */
export const JOBS_CONSUMER = 'attnfit-coordinator';
/** KV bucket for job records (`job.<id>`) and checkpoints (`ckpt.<id>`). */
export const JOBS_BUCKET = 'attnfit-jobs';
/**
 * Object Store bucket for problem tensors (content-addressed manifests and their parts):
 * submitters write, workers and the coordinator read (docs/cluster.md, "Security").
 */
export const PROBLEMS_BUCKET = 'attnfit-problems';
/**
 * Object Store bucket for results (`result-<job>`) and overflowing checkpoints: only the
 * coordinator writes; submitters read; workers have no access.
 */
export const RESULTS_BUCKET = 'attnfit-results';
/** @deprecated the problems bucket ({@link PROBLEMS_BUCKET}); results moved to {@link RESULTS_BUCKET}. */
export const DATA_BUCKET = PROBLEMS_BUCKET;

/** Progress subject of one job. */
export function progressSubject(jobId: string): string {
  return `${PROGRESS_PREFIX}.${jobId}`;
}
/** KV key of a job record. */
export function jobKey(jobId: string): string {
  return `job.${jobId}`;
}
/** KV key of a job checkpoint. */
export function checkpointKey(jobId: string): string {
  return `ckpt.${jobId}`;
}
/** Object Store name of a problem blob. */
export function problemObjectName(hash: string): string {
  return `problem-${hash}`;
}
/**
 * Object Store name of part `index` of a problem uploaded in parts of `partBytes` bytes (the
 * manifest under {@link problemObjectName} lists them; parts are written first, it last).
 */
export function problemPartName(hash: string, partBytes: number, index: number): string {
  return `${problemObjectName(hash)}.p${partBytes}.${index}`;
}
/** Object Store name of a job's result blob. */
export function resultObjectName(jobId: string): string {
  return `result-${jobId}`;
}

/**
 * Dispatch ids of workers (`dispatchId` in a heartbeat): 1–64 characters of [A-Za-z0-9_-], fresh
 * per worker process, so two workers never share a direct task subject.
 */
export const DISPATCH_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * The direct task subject of one worker (`attnfit.task.<dispatchId>`, no queue group): shards the
 * coordinator addresses to that worker. Same messages and replies as {@link TASK_SUBJECT}.
 */
export function workerTaskSubject(dispatchId: string): string {
  return `${TASK_SUBJECT}.${dispatchId}`;
}

/** Job ids: 1–64 characters of [A-Za-z0-9_-] (safe as subject tokens and KV keys). */
export const JOB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
