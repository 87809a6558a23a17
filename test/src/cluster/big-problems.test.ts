/**
 * Big problems in the Object Store (docs/cluster.md, "Big problems"), against a real nats-server
 * with small parts: an upload is cut into part objects plus a manifest written last; an
 * interrupted upload resumes at the first part not stored and verified; readers verify every
 * part and the whole blob against the content hash (a poisoned part or manifest is detected,
 * whether or not its metadata claims the right digest) and the client replaces what does not
 * verify; a worker refuses a problem larger than its memory limit with TOO_LARGE, and an
 * evaluation (and a job) that no worker can hold fails with that error after bounded attempts
 * (no endless retry).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Problem } from '@attnfit/shared/math';
import { AttnfitError } from '@attnfit/shared/core';
import {
  PROBLEMS_BUCKET,
  packProblem,
  problemPartName,
  problemRef,
  readProblemBlob,
  encodeManifest,
  problemManifest,
  blobPart,
  type ProblemRef,
} from '@attnfit/shared/protocol';
import { startWorkerService, type WorkerService } from '@attnfit/worker/service';
import {
  ClusterClient,
  createOracle,
  ensureClusterResources,
  objectDigest,
  startCoordinator,
  uploadProblem,
} from '@attnfit/coordinator/internal';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';

function problem(n: number, d: number, seed: number): Problem {
  const r = rng(seed);
  return { n, d, A1: randMatrix(r, n, d), A2: randMatrix(r, n, d), A3: randMatrix(r, n, d), B: randMatrix(r, n, d) };
}

let server: NatsServerHandle;
let nc: NatsConnection;
let os: ObjectStore;

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await ensureClusterResources(nc);
  os = await new Objm(nc).open(PROBLEMS_BUCKET);
});

test.after(async () => {
  await nc?.close();
  await server?.stop();
});

/** The code of a rejection (fails when the promise resolves). */
async function rejection(p: Promise<unknown>): Promise<AttnfitError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, AttnfitError, String(err));
    return err as AttnfitError;
  }
  throw new Error('expected a rejection');
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function b64urlPadded(s: string): string {
  return Buffer.from(s).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Write object `name` straight to the bucket's subjects, as a hostile client could: `data` as
 * its one chunk and metadata claiming `claim` (size and digest) — by default the truth about
 * `data`, so the store's own digest check passes and only the content hash can tell.
 */
async function forge(name: string, data: Uint8Array, claim?: { size: number; digest: string }): Promise<void> {
  const js = jetstream(nc);
  const id = `forged${randomBytes(6).toString('hex')}`;
  await js.publish(`$O.${PROBLEMS_BUCKET}.C.${id}`, data);
  const h = headers();
  h.set('Nats-Rollup', 'sub');
  const meta = {
    name,
    description: '',
    options: { max_chunk_size: 131072 },
    bucket: PROBLEMS_BUCKET,
    nuid: id,
    size: claim?.size ?? data.length,
    chunks: 1,
    mtime: new Date().toISOString(),
    digest: claim?.digest ?? objectDigest(data),
    deleted: false,
  };
  await js.publish(`$O.${PROBLEMS_BUCKET}.M.${b64urlPadded(name)}`, JSON.stringify(meta), { headers: h });
}

function fixture(seed: number): { blob: Uint8Array; ref: ProblemRef; p: Problem } {
  const p = problem(64, 4, seed); // blob: 16 + 32·64·4 = 8208 bytes → 9 parts of 1 KiB
  const blob = packProblem(p);
  return { p, blob, ref: problemRef(blob, p.n, p.d) };
}

test('an upload is cut into parts with a manifest last; an interrupted upload resumes at the first missing part', async () => {
  const { blob, ref } = fixture(1);
  const progress: number[] = [];
  const err = await uploadProblem(nc, os, ref, blob, {
    partBytes: 1024,
    beforePart: (i) => {
      if (i === 4) throw new AttnfitError('CONNECTION', 'interrupted (test)');
    },
  }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(err && /interrupted/.test(err.message), String(err));
  // No manifest: readers see no problem (not a partial one).
  assert.is(await os.info(ref.object), null);
  assert.is((await rejection(readProblemBlob(os, ref))).code, 'NOT_FOUND');
  for (let i = 0; i < 4; i++) assert.ok(await os.info(problemPartName(ref.hash, 1024, i)), `part ${i} stored`);

  const resumed = await uploadProblem(nc, os, ref, blob, {
    partBytes: 1024,
    onProgress: (done, total) => {
      assert.is(total, blob.length);
      progress.push(done);
    },
  });
  assert.equal(
    { ...resumed, uploadedBytes: 0 },
    { uploadedBytes: 0, uploadedParts: 5, verifiedParts: 4, parts: 9, manifestWritten: true },
  );
  assert.ok(resumed.uploadedBytes >= 8208 - 4 * 1024, String(resumed.uploadedBytes));
  assert.is(progress.at(-1), blob.length);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! >= progress[i - 1]!, 'progress never goes back');
  assert.ok(same(await readProblemBlob(os, ref), blob), 'read back bit-exactly');

  // Everything stored and verified: nothing uploaded, even with another part size asked for.
  const again = await uploadProblem(nc, os, ref, blob, { partBytes: 4096 });
  assert.equal(again, { uploadedBytes: 0, uploadedParts: 0, verifiedParts: 9, parts: 9, manifestWritten: false });
});

test('the client API resumes too (ClusterClient.submit with a part size and an interruption hook)', async () => {
  const { p, blob, ref } = fixture(2);
  const c = await ClusterClient.connect({ servers: server.url });
  try {
    const first = await rejection(
      c.submit(p, { maxIter: 1 }, 'resume', {
        partBytes: 2048,
        beforePart: (i) => {
          if (i === 2) throw new AttnfitError('CONNECTION', 'interrupted (test)');
        },
      }),
    );
    assert.match(first.message, /interrupted/);
    const seen: number[] = [];
    const r = await c.submit(p, { maxIter: 1 }, 'resume', { partBytes: 2048, onUpload: (d) => seen.push(d) });
    assert.is(r.upload.verifiedParts, 2);
    assert.is(r.upload.uploadedParts, 3);
    assert.is(seen.at(-1), blob.length);
    assert.ok(same(await readProblemBlob(os, ref), blob), 'read back bit-exactly');
  } finally {
    await c.close();
  }
});

test('a poisoned part is detected by readers (forged metadata or not) and replaced by the next upload', async () => {
  const { blob, ref } = fixture(3);
  await uploadProblem(nc, os, ref, blob, { partBytes: 1024 });
  const name = problemPartName(ref.hash, 1024, 2);
  const real = blobPart(blob, 1024, 2);
  const junk = new Uint8Array(real.length).fill(7);

  // Same size, metadata consistent with the junk: the store's check passes, the content hash does not.
  await forge(name, junk);
  let e = await rejection(readProblemBlob(os, ref));
  assert.is(e.code, 'PROTOCOL');
  assert.match(e.message, new RegExp(`part ${name.replace(/\./g, '\\.')} does not match its manifest`));
  let r = await uploadProblem(nc, os, ref, blob, { partBytes: 1024 });
  assert.is(r.uploadedParts, 1);
  assert.is(r.verifiedParts, 8);
  assert.ok(same(await readProblemBlob(os, ref), blob), 'read back bit-exactly');

  // Metadata forged to claim the real size and digest: caught when the bytes are read.
  await forge(name, junk, { size: real.length, digest: objectDigest(real) });
  e = await rejection(readProblemBlob(os, ref));
  assert.is(e.code, 'PROTOCOL');
  assert.match(e.message, /corrupt/);
  r = await uploadProblem(nc, os, ref, blob, { partBytes: 1024 });
  assert.is(r.uploadedParts, 1);
  assert.ok(same(await readProblemBlob(os, ref), blob), 'read back bit-exactly');
});

test('a forged manifest or whole blob under the name is refused by readers and replaced by the client', async () => {
  const { blob, ref } = fixture(4);
  // A manifest for other content under this name.
  const other = fixture(5);
  const m = problemManifest(other.blob, other.ref, 1024);
  await forge(ref.object, encodeManifest({ ...m, hash: ref.hash }));
  const e = await rejection(readProblemBlob(os, ref));
  assert.ok(e.code === 'PROTOCOL' || e.code === 'NOT_FOUND', e.message);
  const r = await uploadProblem(nc, os, ref, blob, { partBytes: 1024 });
  assert.ok(r.manifestWritten);
  assert.ok(same(await readProblemBlob(os, ref), blob), 'read back bit-exactly');

  // A whole (single-object) blob is accepted only when its hash matches the name.
  const legacy = fixture(6);
  await forge(legacy.ref.object, legacy.blob);
  assert.ok(same(await readProblemBlob(os, legacy.ref), legacy.blob), 'read back bit-exactly');
  const junk = legacy.blob.slice();
  junk[100] ^= 1;
  await forge(legacy.ref.object, junk);
  assert.is((await rejection(readProblemBlob(os, legacy.ref))).code, 'PROTOCOL');
});

test('a worker refuses a problem over its memory limit with TOO_LARGE; the evaluation and the job fail after bounded attempts', async () => {
  const { p, blob, ref } = fixture(7);
  await uploadProblem(nc, os, ref, blob);
  const before = process.env.ATTNFIT_WORKER_PROBLEM_MEMORY;
  process.env.ATTNFIT_WORKER_PROBLEM_MEMORY = '4KiB'; // the problem needs ~16 KiB to load
  let worker: WorkerService | undefined;
  try {
    worker = await startWorkerService({ servers: server.url, threads: 1, log: () => undefined, heartbeatMs: 0 });
    const oracle = await createOracle(p, { nats: { servers: server.url, maxAttempts: 3, hedgeFactor: 0 } });
    try {
      const X = new Float64Array(16);
      const Y = new Float64Array(16);
      const e = await rejection(oracle.evaluate(X, Y, { loss: true }));
      assert.is(e.code, 'TOO_LARGE');
      assert.match(
        e.message,
        new RegExp(
          `problem ${ref.object} \\(n=64, d=4\\) needs 16400 bytes to load; this worker may use 4096 bytes \\(ATTNFIT_WORKER_PROBLEM_MEMORY\\)`,
        ),
      );
      assert.is(worker.stats().fetches, 0, 'refused before fetching');
    } finally {
      await oracle.close();
    }
    // Through the job system: the job fails with TOO_LARGE (status explains), it does not spin.
    const coord = await startCoordinator({ servers: server.url, maxAttempts: 3, log: () => undefined });
    const c = await ClusterClient.connect({ servers: server.url });
    try {
      const { jobId } = await c.submit(p, { maxIter: 1 });
      const rec = await c.waitFor(jobId, { timeoutMs: 60_000 });
      assert.is(rec.state, 'failed');
      assert.is(rec.error?.code, 'TOO_LARGE');
      assert.match(rec.error?.message ?? '', /needs 16400 bytes to load/);
    } finally {
      await c.close();
      await coord.drain();
    }
  } finally {
    if (before === undefined) delete process.env.ATTNFIT_WORKER_PROBLEM_MEMORY;
    else process.env.ATTNFIT_WORKER_PROBLEM_MEMORY = before;
    await worker?.drain();
  }
});

test.run();
