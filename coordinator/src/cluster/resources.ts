/**
 * JetStream resources of the cluster: the job stream + durable consumer, the job KV bucket and
 * the data Object Store. The coordinator creates them (idempotently); clients and workers only
 * open them.
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
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
import {
  DATA_BUCKET,
  JOBS_CONSUMER,
  JOBS_STREAM,
  JOBS_STREAM_SUBJECTS,
  sha256Hex,
  unpackProblem,
  type ProblemRef,
} from '@attnfit/shared/protocol';
import { JobStore, clusterResourceError } from '../jobs/store.js';

/** Seconds a delivered submission may stay un-acked before redelivery. */
export const JOBS_ACK_WAIT_S = 60;

/** Handles the coordinator works with. */
export interface ClusterResources {
  js: JetStreamClient;
  store: JobStore;
  os: ObjectStore;
}

/** Create (or confirm) stream, durable consumer, KV bucket and Object Store. */
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
    const os = await new Objm(nc).create(DATA_BUCKET, { storage: StorageType.File });
    return { js: jetstream(nc), store, os };
  } catch (err) {
    throw clusterResourceError('cluster resources', err);
  }
}

/** Open the data Object Store (clients; NOT_FOUND when the cluster is not initialised). */
export async function openDataStore(nc: NatsConnection): Promise<ObjectStore> {
  try {
    return await new Objm(nc).open(DATA_BUCKET);
  } catch (err) {
    throw clusterResourceError(`object store ${DATA_BUCKET}`, err);
  }
}

/** Fetch a problem blob by reference and check its content hash. */
export async function fetchProblem(os: ObjectStore, ref: ProblemRef): Promise<Problem> {
  const blob = await os.getBlob(ref.object);
  if (!blob) throw new AttnfitError(ErrorCodes.NOT_FOUND, `problem ${ref.object}: not in object store ${DATA_BUCKET}`);
  const got = sha256Hex(blob);
  if (got !== ref.hash)
    throw new AttnfitError(
      ErrorCodes.PROTOCOL,
      `problem ${ref.object}: content hash ${got} does not match ${ref.hash}`,
    );
  return unpackProblem(blob);
}

/**
 * The Object Store's digest of `blob` (its metadata format: "SHA-256=" + padded base64url).
 */
export function objectDigest(blob: Uint8Array): string {
  const b64 = Buffer.from(createHash('sha256').update(blob).digest()).toString('base64');
  return `SHA-256=${b64.replace(/\+/g, '-').replace(/\//g, '_')}`;
}

/**
 * Store a content-addressed problem unless the very same content is already there: the stored
 * object's size **and** SHA-256 digest must match `blob`, else it is uploaded again. (Before,
 * a same-size object was trusted, so one poisoned upload broke every later submit of that
 * problem.) Readers verify the hash of what they download as well (workers and
 * {@link fetchProblem}), so forged metadata fails a job clearly instead of computing on junk.
 */
export async function storeProblem(
  os: ObjectStore,
  ref: ProblemRef,
  blob: Uint8Array,
  upload?: (blob: Uint8Array) => Promise<unknown>,
): Promise<boolean> {
  const info = await os.info(ref.object);
  if (info && !info.deleted && info.size === blob.length && info.digest === objectDigest(blob)) return false;
  if (upload) await upload(blob);
  else await os.putBlob({ name: ref.object }, blob);
  return true;
}
