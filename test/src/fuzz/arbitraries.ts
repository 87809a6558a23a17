/**
 * Generators of hostile wire bytes (msgpack), shared by the codec properties and the live flood
 * test: random bytes, messages of every kind with hostile fields, msgpack headers claiming absurd
 * lengths, mutated valid messages, arbitrary values.
 */
import * as fc from 'fast-check';
import { PROTOCOL_VERSION, WIRE_KINDS, encode, encodeError } from '@attnfit/shared/protocol';
import { absurdInt, mutate } from './harness.js';

export const hash = 'ab'.repeat(32);
export const goodRef = { hash, n: 8, d: 2, object: `problem-${hash}` };

// ---------------------------------------------------------------- hostile msgpack

/** A value that is sometimes right for a field and usually not. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  absurdInt,
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.float64Array({ maxLength: 6 }),
  fc.uint8Array({ maxLength: 6 }),
  fc.int32Array({ maxLength: 3 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
  fc.constant(new Float64Array(4)),
  fc.constant(goodRef),
  fc.constant({ loss: true }),
);

/** A message of a known kind with each field kept, dropped or replaced by a hostile value. */
const shapedMessage = fc
  .record({
    kind: fc.oneof(fc.constantFrom(...WIRE_KINDS), fc.string({ maxLength: 6 })),
    v: fc.oneof({ weight: 6, arbitrary: fc.constant(PROTOCOL_VERSION) }, { weight: 1, arbitrary: hostileValue }),
    fields: fc.dictionary(
      fc.constantFrom(
        'id',
        'jobId',
        'problem',
        'r0',
        'r1',
        'X',
        'Y',
        'want',
        'partials',
        'error',
        'seq',
        'total',
        'data',
        'spec',
        'submittedAt',
        'iteration',
        'loss',
        'relLoss',
        'problemHash',
        'state',
        'history',
        'rows',
      ),
      hostileValue,
      { maxKeys: 10 },
    ),
  })
  .map(({ kind, v, fields }) => ({ ...fields, v, kind }));

/** msgpack headers that claim far more than follows (array32, map32, str32, bin32, ext32, …). */
const absurdHeader = fc
  .record({
    prefix: fc.constantFrom(0xdd, 0xdf, 0xdb, 0xc6, 0xc9, 0xdc, 0xde, 0xda, 0xc5, 0xc8, 0xd9, 0xc4, 0xc7),
    len: fc.oneof(fc.constantFrom(0xffffffff, 0x7fffffff, 0x80000000, 0x10000, 0xffff), fc.nat()),
    extType: fc.integer({ min: -128, max: 127 }),
    tail: fc.uint8Array({ maxLength: 24 }),
    wrap: fc.boolean(),
  })
  .map((h) => {
    const lenBytes = [0xdd, 0xdf, 0xdb, 0xc6, 0xc9].includes(h.prefix)
      ? 4
      : [0xdc, 0xde, 0xda, 0xc5, 0xc8].includes(h.prefix)
        ? 2
        : 1;
    const head = new Uint8Array(1 + lenBytes + (h.prefix === 0xc9 || h.prefix === 0xc8 || h.prefix === 0xc7 ? 1 : 0));
    head[0] = h.prefix;
    for (let i = 0; i < lenBytes; i++) head[1 + i] = (h.len >>> (8 * (lenBytes - 1 - i))) & 0xff;
    if (head.length > 1 + lenBytes) head[1 + lenBytes] = h.extType & 0xff;
    const body = new Uint8Array(head.length + h.tail.length);
    body.set(head);
    body.set(h.tail, head.length);
    if (!h.wrap) return body;
    // Inside an otherwise valid task map, as the value of X.
    const pre = encode({
      v: PROTOCOL_VERSION,
      kind: 'task',
      id: 't',
      jobId: 'j',
      problem: goodRef,
      r0: 0,
      r1: 1,
      Y: new Float64Array(4),
      want: {},
      X: 0,
    });
    const out = new Uint8Array(pre.length - 1 + body.length);
    out.set(pre.subarray(0, pre.length - 1));
    out.set(body, pre.length - 1);
    return out;
  });

const goodMessages = fc.constantFrom(
  encode({
    v: PROTOCOL_VERSION,
    kind: 'task',
    id: 't1',
    jobId: 'j1',
    problem: goodRef,
    r0: 0,
    r1: 4,
    X: new Float64Array(4),
    Y: new Float64Array([1, 2, 3, 4]),
    want: { loss: true, hvpX: new Float64Array(4) },
  }),
  encode({
    v: PROTOCOL_VERSION,
    kind: 'result',
    id: 'r',
    r0: 0,
    r1: 4,
    partials: { rows: 4, loss: 1, gradX: new Float64Array(4), hessXXUpper: new Float64Array(10) },
  }),
  encode({ v: PROTOCOL_VERSION, kind: 'chunk', id: 'c', seq: 1, total: 3, data: new Uint8Array([1, 2, 3]) }),
  encode({ v: PROTOCOL_VERSION, kind: 'submit', jobId: 'j', spec: { problem: goodRef, options: {} }, submittedAt: 1 }),
  encode({
    v: PROTOCOL_VERSION,
    kind: 'checkpoint',
    jobId: 'j',
    iteration: 2,
    X: new Float64Array(4),
    Y: new Float64Array(4),
    history: [],
  }),
  encodeError('e', new Error('boom')),
);

export const wireBytes = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 160 }) },
  { weight: 4, arbitrary: shapedMessage.map((m) => encode(m)) },
  { weight: 2, arbitrary: absurdHeader },
  { weight: 2, arbitrary: goodMessages.chain(mutate) },
  {
    weight: 1,
    arbitrary: fc
      .anything({ maxDepth: 3, withTypedArray: true, withNullPrototype: true, withMap: true, withSet: true })
      .map((v) => encode(v)),
  },
);
