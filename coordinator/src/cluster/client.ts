/**
 * Client side of the cluster (`attnfit submit | status | result | cancel | jobs`): uploads the
 * problem once to the Object Store by content hash, publishes the submission to the JetStream
 * stream (message id = job id, so retries are deduplicated), reads job records from KV, follows
 * progress events and fetches results.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import { AttnfitError, ErrorCodes, wireToError, type Problem } from '@attnfit/shared/core';
import {
  CANCEL_SUBJECT,
  JOB_ID_RE,
  PROTOCOL_VERSION,
  RESULTS_BUCKET,
  SUBMIT_SUBJECT,
  TERMINAL_STATES,
  decodeMessage,
  decodeRaw,
  encode,
  packProblem,
  problemRef,
  progressSubject,
  validateJobSpec,
  type CancelMsg,
  type JobRecord,
  type JobSolveOptions,
  type JobSpec,
  type ProgressMsg,
  type SubmitMsg,
} from '@attnfit/shared/protocol';
import { JobStore, clusterResourceError } from '../jobs/store.js';
import { connectNats, failOnPermissionViolation, permissionError, type NatsAuthOptions } from '@attnfit/shared/runtime';
import { openBucket, openDataStore, uploadProblem, type UploadOptions, type UploadResult } from './resources.js';

/** A connected cluster client. */
export class ClusterClient {
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly store: JobStore,
    private osP: Promise<ObjectStore> | undefined,
    private resultsP?: Promise<ObjectStore>,
  ) {}

  /** Connect and open the job store. Rejects AUTH / CONNECTION / NOT_FOUND (cluster not initialised). */
  static async connect(auth: NatsAuthOptions): Promise<ClusterClient> {
    const nc = await connectNats({ name: 'attnfit-client', ...auth });
    try {
      const store = await failOnPermissionViolation(nc, JobStore.open(nc, false));
      return new ClusterClient(nc, jetstream(nc), store, undefined);
    } catch (err) {
      await nc.close();
      throw permissionError(err, nc) ?? err;
    }
  }

  /** The problems bucket (opened once). */
  private os(): Promise<ObjectStore> {
    this.osP ??= openDataStore(this.nc);
    return this.osP;
  }

  /** The results bucket (read only for clients; opened once). */
  private results(): Promise<ObjectStore> {
    this.resultsP ??= openBucket(this.nc, RESULTS_BUCKET);
    return this.resultsP;
  }

  /**
   * Upload the problem (only the parts not already stored and verified) and submit a job.
   * Resolves to the job id. Options are validated first (BAD_OPTION naming the field).
   */
  async submit(
    problem: Problem,
    options: JobSolveOptions,
    name?: string,
    o: SubmitOptions = {},
  ): Promise<{ jobId: string; spec: JobSpec; uploadedBytes: number; upload: UploadResult }> {
    const blob = packProblem(problem);
    const ref = problemRef(blob, problem.n, problem.d);
    const spec = validateJobSpec(name === undefined ? { problem: ref, options } : { problem: ref, options, name });
    const os = await this.os();
    let upload: UploadResult;
    try {
      // Parts already stored are read back and verified (never trusted by size or metadata);
      // missing or poisoned ones are uploaded, the manifest last (an interrupted upload resumes).
      const uo: UploadOptions = {};
      if (o.onUpload) uo.onProgress = o.onUpload;
      if (o.partBytes !== undefined) uo.partBytes = o.partBytes;
      if (o.beforePart) uo.beforePart = o.beforePart;
      upload = await uploadProblem(this.nc, os, ref, blob, uo);
    } catch (err) {
      throw clusterResourceError(`upload of ${ref.object}`, err);
    }
    const jobId = newJobId();
    const msg: SubmitMsg = { v: PROTOCOL_VERSION, kind: 'submit', jobId, spec, submittedAt: Date.now() };
    await this.publish(SUBMIT_SUBJECT, encode(msg), jobId);
    return { jobId, spec, uploadedBytes: upload.uploadedBytes, upload };
  }

  private async publish(subject: string, data: Uint8Array, msgID: string): Promise<void> {
    try {
      await this.js.publish(subject, data, { msgID });
    } catch (err) {
      throw clusterResourceError(`publish to ${subject}`, err);
    }
  }

  /** The job's record; NOT_FOUND naming the id. */
  async status(jobId: string): Promise<JobRecord> {
    checkJobId(jobId);
    return this.store.require(jobId);
  }

  /** All jobs, oldest first. */
  async jobs(): Promise<JobRecord[]> {
    return this.store.list();
  }

  /**
   * Ask the coordinator to cancel; with waitMs, resolve with the record once it is terminal.
   * With mustExist = false the cancel is published even before the coordinator has recorded the
   * job (the stream keeps submit → cancel order), resolving undefined when not waiting.
   */
  async cancel(jobId: string, waitMs = 0, mustExist = true): Promise<JobRecord | undefined> {
    checkJobId(jobId);
    const rec = mustExist ? await this.status(jobId) : await this.store.get(jobId);
    if (rec && TERMINAL_STATES.has(rec.state)) return rec;
    const msg: CancelMsg = { v: PROTOCOL_VERSION, kind: 'cancel', jobId };
    await this.publish(CANCEL_SUBJECT, encode(msg), `cancel-${jobId}-${Date.now()}`);
    if (waitMs <= 0) return rec;
    return this.waitFor(jobId, { timeoutMs: waitMs, mustExist });
  }

  /**
   * Resolve with the job's record once it is terminal (succeeded / failed / cancelled).
   * `onProgress` sees every progress event; rejects TIMEOUT after timeoutMs (if given).
   */
  async waitFor(
    jobId: string,
    o: { onProgress?: (p: ProgressMsg) => void; timeoutMs?: number; signal?: AbortSignal; mustExist?: boolean } = {},
  ): Promise<JobRecord> {
    checkJobId(jobId);
    const ac = new AbortController();
    const timeoutErr = new AttnfitError(ErrorCodes.TIMEOUT, `job ${jobId}: not finished within ${o.timeoutMs} ms`);
    let timedOut = false;
    const timer = o.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          ac.abort();
        }, o.timeoutMs)
      : undefined;
    const onAbort = () => ac.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const sub = o.onProgress
      ? this.nc.subscribe(progressSubject(jobId), {
          callback: (err, m) => {
            if (!err) {
              try {
                o.onProgress!(decodeMessage(m.data, 'progress'));
              } catch {
                /* malformed progress: ignore */
              }
            }
          },
        })
      : undefined;
    try {
      let last: JobRecord | undefined;
      for await (const r of this.store.watch(
        jobId,
        (x) => TERMINAL_STATES.has(x.state),
        ac.signal,
        o.mustExist ?? true,
      ))
        last = r;
      if (last && TERMINAL_STATES.has(last.state)) return last;
      if (timedOut) throw timeoutErr;
      throw new AttnfitError(ErrorCodes.CANCELLED, `waiting for job ${jobId} was interrupted`);
    } finally {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      sub?.unsubscribe();
    }
  }

  /**
   * The result of a succeeded job: X, Y (d×d) and report. Rejects NOT_FOUND for an unknown job,
   * or the job's own error (failed) / CANCELLED / a "not finished" error otherwise.
   */
  async result(
    jobId: string,
  ): Promise<{ record: JobRecord; X: Float64Array; Y: Float64Array; report: Record<string, unknown> }> {
    const record = await this.status(jobId);
    if (record.state === 'failed' && record.error) throw wireToError(record.error);
    if (record.state === 'cancelled')
      throw new AttnfitError(ErrorCodes.CANCELLED, `job ${jobId} was cancelled (no result)`);
    if (record.state !== 'succeeded' || !record.result) {
      throw new AttnfitError(
        ErrorCodes.NOT_FOUND,
        `job ${jobId}: no result yet (state ${record.state}, iteration ${record.iteration})`,
        { details: { field: 'job', value: jobId } },
      );
    }
    const os = await this.results();
    const blob = await os.getBlob(record.result.object);
    if (!blob)
      throw new AttnfitError(ErrorCodes.NOT_FOUND, `job ${jobId}: result object ${record.result.object} is missing`);
    const r = decodeRaw(blob) as { X?: unknown; Y?: unknown; report?: unknown };
    const dd = record.problem.d * record.problem.d;
    if (
      !(r.X instanceof Float64Array) ||
      r.X.length !== dd ||
      !(r.Y instanceof Float64Array) ||
      r.Y.length !== dd ||
      typeof r.report !== 'object' ||
      r.report === null
    ) {
      throw new AttnfitError(ErrorCodes.PROTOCOL, `job ${jobId}: result object ${record.result.object} is malformed`);
    }
    return { record, X: r.X, Y: r.Y, report: r.report as Record<string, unknown> };
  }

  /**
   * Run `work` (an operation of this client) so that a permission violation on the connection
   * fails it at once with AUTH naming the subject and the user, instead of a wait for a reply
   * the server dropped.
   */
  async guard<T>(work: Promise<T>): Promise<T> {
    try {
      return await failOnPermissionViolation(this.nc, work);
    } catch (err) {
      throw permissionError(err, this.nc) ?? err;
    }
  }

  /** Close the connection (flushes pending publishes). */
  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Options of {@link ClusterClient.submit}. */
export interface SubmitOptions {
  /** Called as the problem is uploaded or verified part by part (bytes so far, total). */
  onUpload?: (doneBytes: number, totalBytes: number) => void;
  /** Upload part size in bytes (default ATTNFIT_UPLOAD_PART_SIZE). */
  partBytes?: number;
  /** Test hook: called before part `index` is uploaded (throw to simulate an interruption). */
  beforePart?: (index: number) => void;
}

/** A new job id: time-ordered, 20 characters of [0-9a-z-]. */
export function newJobId(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

function checkJobId(id: string): void {
  if (!JOB_ID_RE.test(id))
    throw new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `JOB: must be 1–64 characters of [A-Za-z0-9_-] (got ${JSON.stringify(id)})`,
      { details: { field: 'JOB', value: id } },
    );
}
