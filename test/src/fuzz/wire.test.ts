/**
 * Property-based fuzzing of the wire protocol: the msgpack codec (decodeMessage, peekId,
 * wireToPartials), the chunk reassembler, job spec validation and the problem blob. Property: a
 * coded AttnfitError (PROTOCOL / BAD_OPTION / BAD_FILE) or a correct decode — never another
 * exception, a hang, or an allocation proportional to a claimed length.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import {
  JOB_LIMITS,
  PROTOCOL_VERSION,
  Reassembler,
  WIRE_KINDS,
  decodeMessage,
  encode,
  peekId,
  toFrames,
  unpackProblem,
  validateJobSpec,
  wireToPartials,
  type WirePartials,
} from '@attnfit/shared/protocol';
import { goodRef, hash, hostileValue, wireBytes } from './arbitraries.js';
import { RUNS, absurdInt, check, coded, timeTests } from './harness.js';

timeTests(test);

test(`codec: ${RUNS} hostile frames decode or fail with PROTOCOL; peekId never throws`, () => {
  let decoded = 0,
    refused = 0;
  check(
    fc.property(wireBytes, (bytes) => {
      const r = coded(['PROTOCOL'], bytes.length, () => decodeMessage(bytes));
      if (r.ok) {
        decoded++;
        assert.is(r.value.v, PROTOCOL_VERSION);
        assert.ok((WIRE_KINDS as readonly string[]).includes(r.value.kind));
        if (r.value.kind === 'result') {
          const partials = r.value.partials;
          coded(['PROTOCOL'], bytes.length, () => wireToPartials(partials, 2));
        }
      } else refused++;
      assert.type(peekId(bytes), 'string');
    }),
  );
  assert.ok(decoded > 0 && refused > 0, `both outcomes exercised (decoded ${decoded}, refused ${refused})`);
});

test(`codec: ${RUNS} hostile partials convert or fail with PROTOCOL (claimed d up to 2^16)`, () => {
  check(
    fc.property(
      fc.dictionary(
        fc.constantFrom('rows', 'loss', 'gradX', 'gradY', 'hessXX', 'hessXXUpper', 'hessXY', 'MtM', 'MtB', 'hvpX'),
        hostileValue,
        { maxKeys: 5 },
      ),
      fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(256, 65536)),
      (w, d) => {
        coded(['PROTOCOL'], 1024, () => wireToPartials(w as unknown as WirePartials, d));
      },
    ),
  );
});

// ---------------------------------------------------------------- chunk reassembler

/** Hostile chunk frames: absurd totals and sequence numbers, conflicting totals, non-chunk frames. */
const hostileChunk = fc.oneof(
  fc
    .record({
      id: fc.constantFrom('a', 'b', 'c', ''),
      seq: fc.oneof(fc.nat(4), absurdInt, hostileValue),
      total: fc.oneof(fc.integer({ min: 1, max: 4 }), absurdInt, hostileValue),
      data: fc.oneof(fc.uint8Array({ maxLength: 16 }), hostileValue),
    })
    .map((c) => encode({ v: PROTOCOL_VERSION, kind: 'chunk', ...c })),
  wireBytes,
);

test(`reassembler: ${RUNS} hostile frame sequences give whole messages, undefined, or PROTOCOL`, () => {
  check(
    fc.property(fc.array(hostileChunk, { minLength: 1, maxLength: 8 }), (frames) => {
      const r = new Reassembler();
      let fed = 0;
      for (const f of frames) {
        fed += f.length;
        const out = coded(['PROTOCOL'], fed, () => r.push(f));
        if (out.ok && out.value !== undefined && out.value.length > fed)
          throw new Error(`reassembled ${out.value.length} bytes from ${fed} fed`);
      }
      assert.ok(r.pending <= frames.length);
    }),
  );
});

test(`reassembler: ${RUNS} reordered / duplicated / missing chunk sequences reassemble exactly`, () => {
  const payload = fc.uint8Array({ minLength: 0, maxLength: 12_000 });
  check(
    fc.property(
      payload,
      payload,
      fc.integer({ min: 2048, max: 4096 }),
      fc.boolean(),
      fc.nat(),
      (p1, p2, maxPayload, dropOne, rnd) => {
        const f1 = toFrames('one', p1, maxPayload),
          f2 = toFrames('two', p2, maxPayload);
        // Interleave, duplicate every third frame, shuffle deterministically from rnd, maybe drop one of p1's chunks.
        let seq: Array<{ who: 1 | 2; f: Uint8Array; k: number }> = [
          ...f1.map((f, k) => ({ who: 1 as const, f, k })),
          ...f2.map((f, k) => ({ who: 2 as const, f, k })),
        ];
        seq = seq.concat(seq.filter((_, i) => i % 3 === 0));
        let s = rnd | 0;
        for (let i = seq.length - 1; i > 0; i--) {
          s = (Math.imul(s, 1103515245) + 12345) | 0;
          const j = (s >>> 8) % (i + 1);
          [seq[i], seq[j]] = [seq[j]!, seq[i]!];
        }
        const dropped = dropOne && f1.length > 1 ? rnd % f1.length : -1;
        if (dropped >= 0) seq = seq.filter((e) => !(e.who === 1 && e.k === dropped));
        const r = new Reassembler();
        const got: Record<1 | 2, Uint8Array[]> = { 1: [], 2: [] };
        for (const e of seq) {
          const out = r.push(e.f);
          if (out !== undefined) got[e.who].push(out);
        }
        const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
        for (const [who, p, frames] of [
          [1, p1, f1],
          [2, p2, f2],
        ] as const) {
          const missing = who === 1 && dropped >= 0;
          if (missing) {
            assert.is(got[who].length, 0);
            continue;
          }
          // A whole (unchunked) message comes back once per push (duplicates included); a chunked one exactly once.
          assert.ok(got[who].length >= 1, `payload ${who} reassembled`);
          if (frames.length > 1) assert.is(got[who].length, 1, `payload ${who} reassembled once`);
          for (const g of got[who]) assert.ok(same(g, p), `payload ${who} equal`);
        }
        assert.is(r.pending, dropped >= 0 ? 1 : 0);
      },
    ),
  );
});

// ---------------------------------------------------------------- job specs and problem blobs

const hostileSpec = fc.oneof(
  fc.record(
    {
      problem: fc.oneof(
        { weight: 4, arbitrary: fc.constant(goodRef) },
        {
          weight: 1,
          arbitrary: fc.record({
            hash: fc.oneof(fc.constant(hash), fc.string()),
            n: absurdInt,
            d: absurdInt,
            object: hostileValue,
          }),
        },
        { weight: 1, arbitrary: hostileValue },
      ),
      options: fc.oneof(
        fc.dictionary(
          fc.constantFrom('method', 'tol', 'gtol', 'gamma', 'maxIter', 'starts', 'seed', 'x0', 'y0', 'other'),
          fc.oneof(hostileValue, fc.constantFrom('newton', 'lbfgs', 0, 1e-12, 2 ** 53 - 1, Infinity, NaN, -0)),
        ),
        hostileValue,
      ),
      name: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 8 }), hostileValue),
    },
    { requiredKeys: ['problem'] },
  ),
  hostileValue,
);

test(`job specs: ${RUNS} hostile specs validate or fail with BAD_OPTION`, () => {
  check(
    fc.property(hostileSpec, (spec) => {
      const r = coded(['BAD_OPTION'], 1024, () => validateJobSpec(spec));
      if (r.ok) {
        const o = r.value.options;
        if (o.tol !== undefined) assert.ok(o.tol > 0, `tol ${o.tol} accepted`);
        if (o.starts !== undefined)
          assert.ok(o.starts >= 1 && o.starts <= JOB_LIMITS.maxStarts, `starts ${o.starts} accepted`);
      }
    }),
  );
});

const blobBytes = fc.oneof(
  fc.uint8Array({ maxLength: 80 }),
  fc
    .record({
      n: fc.oneof(fc.nat(4), fc.constantFrom(0xffffffff, 0x80000000, 65536)),
      d: fc.oneof(fc.nat(4), fc.constantFrom(0xffffffff, 0x80000000, 65536)),
      extra: fc.uint8Array({ maxLength: 300 }),
    })
    .map(({ n, d, extra }) => {
      const b = new Uint8Array(16 + extra.length);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, 0x31504641, true);
      dv.setUint32(4, n, true);
      dv.setUint32(8, d, true);
      b.set(extra, 16);
      return b;
    }),
);

test(`problem blob: ${RUNS} hostile blobs unpack or fail with BAD_FILE`, () => {
  check(
    fc.property(blobBytes, (b) => {
      const r = coded(['BAD_FILE'], b.length, () => unpackProblem(b));
      if (r.ok) assert.is(16 + 32 * r.value.n * r.value.d, b.length);
    }),
  );
});

test.run();
