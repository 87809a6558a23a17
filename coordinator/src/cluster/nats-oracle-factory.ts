/**
 * `createNatsOracle`: a NatsOracle for a synchronous `attnfit solve --nats URL` (no job system):
 * connects, uploads the problem to the Object Store by content hash (once), and closes the
 * connection when the oracle is closed. Workers must be running; the data bucket must exist
 * (created by `attnfit coordinator`, or here when the user may create it). The problem is
 * uploaded in verified parts like `attnfit submit` does.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { StorageType } from '@nats-io/jetstream';
import { PROBLEMS_BUCKET, packProblem, problemRef } from '@attnfit/shared/protocol';
import type { Problem } from '@attnfit/shared/math';
import type { CallOptions, Oracle, OracleInfo, Traffic } from '../oracle/types.js';
import type { Partials, Want } from '@attnfit/shared/math';
import { clusterResourceError } from '../jobs/store.js';
import { connectNats, failOnPermissionViolation, permissionError, type NatsAuthOptions } from '@attnfit/shared/runtime';
import { NatsOracle, type NatsOracleOptions } from './nats-oracle.js';
import { newJobId } from './client.js';
import { uploadProblem } from './resources.js';

/** Options of {@link createNatsOracle}. */
export interface NatsOracleHandleOptions extends NatsAuthOptions, Omit<NatsOracleOptions, 'jobId'> {
  /** Job id tasks carry (default: a fresh id). */
  jobId?: string;
}

async function openOrCreate(nc: NatsConnection, bucket: string): Promise<ObjectStore> {
  const objm = new Objm(nc);
  try {
    return await objm.open(bucket);
  } catch {
    try {
      return await objm.create(bucket, { storage: StorageType.File });
    } catch (err) {
      throw clusterResourceError(`object store ${bucket}`, err);
    }
  }
}

/**
 * Connect, upload, and return an Oracle over the cluster's workers.
 * @example const oracle = await createNatsOracle(problem, { servers: 'nats://127.0.0.1:4222' });
 */
export async function createNatsOracle(problem: Problem, o: NatsOracleHandleOptions): Promise<Oracle> {
  const nc = await connectNats({ name: 'attnfit-solve', ...o });
  try {
    const blob = packProblem(problem);
    const ref = problemRef(blob, problem.n, problem.d);
    await failOnPermissionViolation(
      nc,
      (async () => {
        const os = await openOrCreate(nc, PROBLEMS_BUCKET);
        await uploadProblem(nc, os, ref, blob);
      })(),
    );
    const { servers: _s, user: _u, pass: _p, credsFile: _c, name: _n, jobId, ...rest } = o;
    const inner = new NatsOracle(nc, problem, ref, { ...rest, jobId: jobId ?? newJobId() });
    let closed = false;
    const oracle: Oracle = {
      n: inner.n,
      d: inner.d,
      bNorm2: inner.bNorm2,
      keyMean: inner.keyMean,
      gram: () => inner.gram(),
      evaluate: (X: Float64Array, Y: Float64Array, want: Want, opts?: CallOptions): Promise<Partials> =>
        inner.evaluate(X, Y, want, opts),
      info: (): OracleInfo => inner.info(),
      traffic: (): Traffic => inner.traffic(),
      async close() {
        if (closed) return;
        closed = true;
        await inner.close();
        await nc.drain().catch(() => nc.close());
      },
    };
    return oracle;
  } catch (err) {
    await nc.close();
    throw permissionError(err, nc) ?? clusterResourceError('solve --nats', err);
  }
}
