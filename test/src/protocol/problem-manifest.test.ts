/**
 * The parts manifest of a stored problem (shared/src/protocol/problem-blob.ts): the cut into parts,
 * deterministic bytes, strict decoding against the reference it is read for (PROTOCOL naming the
 * object and what is wrong), and zero-copy tensor views over a fetched blob.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttnfitError } from '@attnfit/shared/core';
import {
  blobPart,
  decodeManifest,
  encodeManifest,
  packProblem,
  problemBlobBytes,
  problemManifest,
  problemRef,
  problemViews,
  sha256Hex,
  unpackProblem,
} from '@attnfit/shared/protocol';
import { rng, randMatrix } from '../helpers/rng.js';

const r = rng(11);
const p = {
  n: 10,
  d: 3,
  A1: randMatrix(r, 10, 3),
  A2: randMatrix(r, 10, 3),
  A3: randMatrix(r, 10, 3),
  B: randMatrix(r, 10, 3),
};
const blob = packProblem(p);
const ref = problemRef(blob, p.n, p.d);

function code(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    assert.instance(e, AttnfitError);
    return { code: (e as AttnfitError).code, message: (e as AttnfitError).message };
  }
  throw new Error('expected a throw');
}

test('parts cover the blob in order, the last one shorter; each is listed by its sha256', () => {
  assert.is(blob.length, problemBlobBytes(10, 3)); // 16 + 32·30 = 976
  const m = problemManifest(blob, ref, 300);
  assert.is(m.parts.length, 4);
  assert.equal(
    [0, 1, 2, 3].map((i) => blobPart(blob, 300, i).length),
    [300, 300, 300, 76],
  );
  for (let i = 0; i < 4; i++) assert.is(m.parts[i], sha256Hex(blobPart(blob, 300, i)));
  assert.is(problemManifest(blob, ref, 1 << 20).parts.length, 1);
  assert.equal(encodeManifest(m), encodeManifest({ ...m }), 'deterministic bytes');
  assert.equal(decodeManifest(encodeManifest(m), ref), m);
});

test('a manifest for another problem, shape, size or part list is PROTOCOL naming the object', () => {
  const m = problemManifest(blob, ref, 300);
  const bad = (over: Record<string, unknown>) => encodeManifest({ ...m, ...over } as typeof m);
  for (const [over, why] of [
    [{ hash: 'f'.repeat(64) }, /hash/],
    [{ n: 11 }, /shape/],
    [{ bytes: 977 }, /bytes/],
    [{ partBytes: 0 }, /partBytes/],
    [{ parts: m.parts.slice(1) }, /parts/],
    [{ parts: [...m.parts.slice(1), 'x'] }, /parts/],
  ] as const) {
    const e = code(() => decodeManifest(bad(over), ref));
    assert.is(e.code, 'PROTOCOL');
    assert.match(e.message, new RegExp(`problem ${ref.object}: bad manifest`));
    assert.match(e.message, why);
  }
  assert.is(code(() => decodeManifest(new TextEncoder().encode('{"kind":"x"}'), ref)).code, 'PROTOCOL');
  assert.is(code(() => decodeManifest(new Uint8Array([0xff, 0xfe]), ref)).code, 'PROTOCOL');
});

test('problemViews: the tensors of a fetched blob without a copy (a copy when misaligned)', () => {
  const v = problemViews(blob);
  assert.is(v.A1.buffer, blob.buffer, 'views, not a copy');
  const u = unpackProblem(blob);
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) assert.equal(Array.from(v[k]), Array.from(u[k]));
  const shifted = new Uint8Array(blob.length + 1);
  shifted.set(blob, 1);
  const w = problemViews(shifted.subarray(1));
  assert.not.ok(w.A1.buffer === shifted.buffer);
  assert.equal(Array.from(w.B), Array.from(u.B));
});

test.run();
