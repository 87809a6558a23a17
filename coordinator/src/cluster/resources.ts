/**
 * JetStream resources of the cluster: the job stream + durable consumer, the job KV bucket, the
 * problems Object Store (submitters write, workers and the coordinator read) and the results
 * Object Store (only the coordinator writes; submitters read; workers have no access) — the split
 * is what deploy/auth.conf's permissions enforce (docs/cluster.md, "Security"). The coordinator
 * creates them (idempotently); clients and workers only open them.
 *
 * Problems are uploaded in parts ({@link uploadProblem}): each part is its own object, verified
 * by its sha256, and the manifest `problem-<sha256>` is written last, so an interrupted upload
 * resumes at the first part missing or not verified, and a poisoned part is re-uploaded.
 */
import { createHash } from 'node:crypto';
import { headers, nuid, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { AttnfitError, ErrorCodes, type Problem } from '@attnfit/shared/core';
import { readEnv } from '@attnfit/shared/config';
import {
  DEFAULT_MAX_PAYLOAD,
  JOBS_CONSUMER,
  JOBS_STREAM,
  JOBS_STREAM_SUBJECTS,
  PROBLEMS_BUCKET,
  RESULTS_BUCKET,
  blobPart,
  decodeManifest,
  encodeManifest,
  problemManifest,
  problemPartName,
  readProblemBlob,
  sha256Hex,
  problemViews,
  type ProblemManifest,
  type ProblemRef,
} from '@attnfit/shared/protocol';
import { JobStore, clusterResourceError } from '../jobs/store.js';

/** Seconds a delivered submission may stay un-acked before redelivery. */
export const JOBS_ACK_WAIT_S = 60;

/** Handles the coordinator works with. */
export interface ClusterResources {
  js: JetStreamClient;
  store: JobStore;
  /** Results bucket (results, overflowing checkpoints): the coordinator's to write. */
  os: ObjectStore;
  /** Problems bucket (read only, for the coordinator). */
  problems: ObjectStore;
}

/** Create (or confirm) stream, durable consumer, KV bucket and both Object Stores. */
export async function ensureClusterResources(nc: NatsConnection): Promise<ClusterResources> {
  try {
    const jsm = await jetstreamManager(nc);
    const cfg = {
      name: JOBS_STREAM,
      subjects: [...JOBS_STREAM_SUBJECTS],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 120e9,
    };
    try {
      await jsm.streams.info(JOBS_STREAM);
    } catch {
      await jsm.streams.add(cfg);
    }
    try {
      await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER);
    } catch {
      await jsm.consumers.add(JOBS_STREAM, {
        durable_name: JOBS_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: JOBS_ACK_WAIT_S * 1e9,
      });
    }
    const store = await JobStore.open(nc, true);
    const objm = new Objm(nc);
    const problems = await objm.create(PROBLEMS_BUCKET, { storage: StorageType.File });
    const os = await objm.create(RESULTS_BUCKET, { storage: StorageType.File });
    return { js: jetstream(nc), store, os, problems };
  } catch (err) {
    throw clusterResourceError('cluster resources', err);
  }
}

/** Open an Object Store by name (NOT_FOUND when the cluster is not initialised). */
export async function openBucket(nc: NatsConnection, bucket: string): Promise<ObjectStore> {
  try {
    return await new Objm(nc).open(bucket);
  } catch (err) {
    throw clusterResourceError(`object store ${bucket}`, err);
  }
}

/** Open the problems Object Store (clients; NOT_FOUND when the cluster is not initialised). */
export function openDataStore(nc: NatsConnection): Promise<ObjectStore> {
  return openBucket(nc, PROBLEMS_BUCKET);
}

/**
 * Fetch a problem by reference from the problems bucket, verified: manifest, every part's sha256
 * and the whole blob's sha256 against the name (see readProblemBlob), then the shape.
 */
export async function fetchProblem(os: ObjectStore, ref: ProblemRef): Promise<Problem> {
  const p = problemViews(await readProblemBlob(os, ref));
  if (p.n !== ref.n || p.d !== ref.d)
    throw new AttnfitError(
      ErrorCodes.PROTOCOL,
      `problem ${ref.object}: shape ${p.n}×${p.d} does not match ${ref.n}×${ref.d}`,
    );
  return p;
}

/**
 * The Object Store's digest of `blob` (its metadata format: "SHA-256=" + padded base64url).
 */
export function objectDigest(blob: Uint8Array): string {
  const b64 = Buffer.from(createHash('sha256').update(blob).digest()).toString('base64');
  return `SHA-256=${b64.replace(/\+/g, '-').replace(/\//g, '_')}`;
}

/** Options of {@link uploadProblem}. */
export interface UploadOptions {
  /** Part size in bytes (default ATTNFIT_UPLOAD_PART_SIZE, 8 MiB). Ignored when a valid manifest with another part size is stored already. */
  partBytes?: number;
  /** Bytes stored or verified so far, of the total (called per chunk and per part). */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Test hook: called before part `index` is uploaded (throw to simulate an interruption). */
  beforePart?: (index: number) => void;
}

/** What {@link uploadProblem} did. */
export interface UploadResult {
  /** Bytes published (parts uploaded + the manifest when written). */
  uploadedBytes: number;
  /** Parts uploaded now. */
  uploadedParts: number;
  /** Parts found stored and verified (their bytes hash to the manifest's entry): not uploaded. */
  verifiedParts: number;
  /** Parts of the problem. */
  parts: number;
  /** The manifest was written now (false: the stored one was already right). */
  manifestWritten: boolean;
}

/**
 * Store a content-addressed problem in the problems bucket, in parts (see the module comment),
 * uploading only what is not already stored **and verified**: a stored part counts only when its
 * bytes, read back, hash to the manifest's entry (never trusted by size or metadata), so an
 * interrupted upload resumes and a poisoned part or manifest is replaced. Objects are written
 * without purging the chunks they replace (submitters hold no purge permission): the replaced
 * chunks stay in the stream until an operator purges them (docs/cluster.md, "Big problems").
 */
export async function uploadProblem(
  nc: NatsConnection,
  os: ObjectStore,
  ref: ProblemRef,
  blob: Uint8Array,
  o: UploadOptions = {},
): Promise<UploadResult> {
  // A stored manifest is kept when it describes exactly this blob (its part size may differ from
  // ours); a forged or foreign one is replaced.
  let stored = await readManifest(os, ref);
  if (stored && stored.parts.some((h, i) => h !== sha256Hex(blobPart(blob, stored!.partBytes, i)))) stored = undefined;
  const m: ProblemManifest = stored ?? problemManifest(blob, ref, o.partBytes ?? readEnv('uploadPartBytes'));
  const js = jetstream(nc);
  const maxPayload = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  const chunk = Math.min(128 * 1024, maxPayload - 1024);
  const r: UploadResult = {
    uploadedBytes: 0,
    uploadedParts: 0,
    verifiedParts: 0,
    parts: m.parts.length,
    manifestWritten: false,
  };
  let done = 0;
  o.onProgress?.(0, blob.length);
  for (let i = 0; i < m.parts.length; i++) {
    const name = problemPartName(ref.hash, m.partBytes, i);
    const part = blobPart(blob, m.partBytes, i);
    if (await storedAndVerified(os, name, part, m.parts[i]!)) {
      r.verifiedParts++;
    } else {
      o.beforePart?.(i);
      await putObject(js, PROBLEMS_BUCKET, name, part, chunk, (sent) => o.onProgress?.(done + sent, blob.length));
      r.uploadedParts++;
      r.uploadedBytes += part.length;
    }
    done += part.length;
    o.onProgress?.(done, blob.length);
  }
  if (!stored) {
    const mb = encodeManifest(m);
    await putObject(js, PROBLEMS_BUCKET, ref.object, mb, chunk);
    r.manifestWritten = true;
    r.uploadedBytes += mb.length;
  }
  return r;
}

/** The stored manifest of `ref` when it is valid for `ref`; undefined when absent, unreadable or wrong. */
async function readManifest(os: ObjectStore, ref: ProblemRef): Promise<ProblemManifest | undefined> {
  try {
    const bytes = await os.getBlob(ref.object);
    return bytes ? decodeManifest(bytes, ref) : undefined;
  } catch (err) {
    if (err instanceof AttnfitError || /digest|corrupt/i.test((err as Error).message ?? '')) return undefined;
    throw err;
  }
}

/** The part is stored and its bytes, read back, hash to `sha` (a corrupt object counts as absent). */
async function storedAndVerified(os: ObjectStore, name: string, part: Uint8Array, sha: string): Promise<boolean> {
  const info = await os.info(name);
  if (!info || info.deleted || info.size !== part.length || info.digest !== objectDigest(part)) return false;
  try {
    const got = await os.getBlob(name);
    return got !== null && got.length === part.length && sha256Hex(got) === sha;
  } catch (err) {
    if (/digest|corrupt/i.test((err as Error).message ?? '')) return false;
    throw err;
  }
}

/** Padded base64url, as the Object Store encodes names in meta subjects. */
function b64urlPadded(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Chunk publishes in flight per object (one connection stores them in publish order). */
const PUT_WINDOW = 16;

/**
 * Write one object in the Object Store's format (chunks on `$O.<bucket>.C.<nuid>`, then the
 * meta message with a subject rollup on `$O.<bucket>.M.<name>`), like ObjectStore.put but
 * without purging the chunks of a previous version — that needs the stream purge permission,
 * which no client role holds.
 */
async function putObject(
  js: JetStreamClient,
  bucket: string,
  name: string,
  data: Uint8Array,
  chunkBytes: number,
  onSent?: (sentBytes: number) => void,
): Promise<void> {
  const id = nuid.next();
  const subj = `$O.${bucket}.C.${id}`;
  const inflight = new Set<Promise<unknown>>();
  let chunks = 0;
  let acked = 0;
  let failed: unknown;
  for (let off = 0; off < data.length; off += chunkBytes) {
    const end = Math.min(data.length, off + chunkBytes);
    const p: Promise<unknown> = js.publish(subj, data.subarray(off, end)).then(
      () => {
        acked = Math.max(acked, end);
        onSent?.(acked);
      },
      (err: unknown) => {
        failed ??= err;
      },
    );
    chunks++;
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= PUT_WINDOW) await Promise.race(inflight);
    if (failed) break;
  }
  await Promise.all(inflight);
  if (failed) throw failed;
  const meta = {
    name,
    description: '',
    options: { max_chunk_size: chunkBytes },
    bucket,
    nuid: id,
    size: data.length,
    chunks,
    mtime: new Date().toISOString(),
    digest: objectDigest(data),
    deleted: false,
  };
  const h = headers();
  h.set('Nats-Rollup', 'sub');
  await js.publish(`$O.${bucket}.M.${b64urlPadded(name)}`, JSON.stringify(meta), { headers: h });
}
