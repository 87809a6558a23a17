import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Packr } from 'msgpackr';
import { AttnfitError } from '@attnfit/shared/core';
import {
  PROTOCOL_VERSION,
  encode,
  decodeMessage,
  peekId,
  encodeError,
  packUpper,
  unpackUpper,
  partialsToWire,
  wireToPartials,
  toFrames,
  Reassembler,
  validateJobSpec,
  packProblem,
  unpackProblem,
  problemRef,
  type TaskMsg,
} from '@attnfit/shared/protocol';

function bitsEqual(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return ua.every((v, i) => v === ub[i]);
}

function throwsCode(fn: () => unknown, code: string, re?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, AttnfitError);
    assert.is((err as AttnfitError).code, code);
    if (re) assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const tricky = new Float64Array([1.5, -0, NaN, Infinity, -Infinity, 5e-324, 1e-310, Math.PI, -1 / 3]);
const hash = 'ab'.repeat(32);
const problem = { hash, n: 8, d: 2, object: `problem-${hash}` };

test('Float64Array round-trips bit-exactly (incl. -0, NaN, subnormals) with moreTypes', () => {
  const back = decodeMessage(
    encode({
      v: PROTOCOL_VERSION,
      kind: 'checkpoint',
      jobId: 'j',
      iteration: 3,
      X: tricky,
      Y: tricky.subarray(1, 5),
      history: [],
    }),
    'checkpoint',
  );
  assert.instance(back.X, Float64Array);
  assert.ok(bitsEqual(back.X, tricky));
  assert.ok(bitsEqual(back.Y, tricky.subarray(1, 5)));
  assert.ok(Object.is(back.X[1], -0));
  // The pitfall the codec exists for: a plain Packr does not give back a Float64Array.
  const plain = new Packr({ useRecords: false }).unpack(new Packr({ useRecords: false }).pack({ x: tricky })) as {
    x: unknown;
  };
  assert.not.ok(plain.x instanceof Float64Array && bitsEqual(plain.x, tricky));
});

test('task message round trip keeps every field', () => {
  const t: TaskMsg = {
    v: PROTOCOL_VERSION,
    kind: 'task',
    id: 't1',
    jobId: 'j1',
    problem,
    r0: 0,
    r1: 4,
    X: new Float64Array([1, 2, 3, 4]),
    Y: new Float64Array([5, 6, 7, 8]),
    want: { loss: true, hvpX: new Float64Array([9, 8, 7, 6]) },
  };
  const back = decodeMessage(encode(t), 'task');
  assert.equal(back.problem, problem);
  assert.is(back.r1, 4);
  assert.ok(bitsEqual(back.want.hvpX!, t.want.hvpX!));
  assert.is(peekId(encode(t)), 't1');
});

test('malformed, unknown-version and unknown-kind messages throw PROTOCOL naming the problem', () => {
  throwsCode(() => decodeMessage(new Uint8Array([0xc1, 0xff, 0x00])), 'PROTOCOL', /malformed|not msgpack/);
  throwsCode(() => decodeMessage(encode([1, 2, 3])), 'PROTOCOL', /expected a map/);
  throwsCode(() => decodeMessage(encode({ v: 99, kind: 'task' })), 'PROTOCOL', /unsupported protocol version 99/);
  throwsCode(() => decodeMessage(encode({ v: PROTOCOL_VERSION, kind: 'bogus' })), 'PROTOCOL', /unknown kind "bogus"/);
  throwsCode(
    () =>
      decodeMessage(
        encode({
          v: PROTOCOL_VERSION,
          kind: 'task',
          id: 't',
          jobId: 'j',
          problem,
          r0: 4,
          r1: 2,
          X: new Float64Array(4),
          Y: new Float64Array(4),
          want: {},
        }),
      ),
    'PROTOCOL',
    /r1 must be > r0/,
  );
  throwsCode(
    () =>
      decodeMessage(
        encode({
          v: PROTOCOL_VERSION,
          kind: 'task',
          id: 't',
          jobId: 'j',
          problem,
          r0: 0,
          r1: 2,
          X: [1, 2],
          Y: new Float64Array(4),
          want: {},
        }),
      ),
    'PROTOCOL',
    /X must be a Float64Array/,
  );
  throwsCode(
    () => decodeMessage(encode({ v: PROTOCOL_VERSION, kind: 'cancel', jobId: 'j' }), 'task'),
    'PROTOCOL',
    /unexpected message kind "cancel"/,
  );
  assert.is(peekId(new Uint8Array([0xc1])), '');
});

test('error replies decode back to the same code, message and retryable flag', () => {
  const e = decodeMessage(encodeError('t9', new AttnfitError('TIMEOUT', 'slow', { retryable: true })), 'error');
  assert.is(e.id, 't9');
  assert.is(e.error.code, 'TIMEOUT');
  assert.is(e.error.message, 'slow');
  assert.is(e.error.retryable, true);
});

test('packUpper / unpackUpper: hand-computed 3×3 and exact symmetric round trip', () => {
  const a = new Float64Array([1, 2, 3, 2, 4, 5, 3, 5, 6]);
  assert.equal(Array.from(packUpper(a, 3)), [1, 2, 3, 4, 5, 6]);
  assert.ok(bitsEqual(unpackUpper(packUpper(a, 3), 3), a));
});

test('partials codec: symmetric hessXX packed, asymmetric sent in full, both bit-exact', () => {
  const d = 2,
    m = 4;
  const sym = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) sym[i * m + j] = Math.sin(i + j) / 3;
  const p = { rows: 5, loss: 0.1 + 0.2, gradX: tricky.subarray(0, 4), hessXX: sym };
  const w = partialsToWire(p, d);
  assert.is(w.hessXXUpper!.length, 10);
  const back = wireToPartials(
    decodeMessage(encode({ v: PROTOCOL_VERSION, kind: 'result', id: 'r', r0: 0, r1: 5, partials: w }), 'result')
      .partials,
    d,
  );
  assert.ok(bitsEqual(back.hessXX!, sym));
  assert.ok(bitsEqual(back.gradX!, p.gradX));
  assert.is(back.loss, 0.1 + 0.2);
  const asym = sym.slice();
  asym[1] = asym[1]! + 1e-17 + 1e-16;
  const w2 = partialsToWire({ rows: 1, hessXX: asym }, d);
  assert.is(w2.hessXXUpper, undefined);
  assert.ok(bitsEqual(wireToPartials(w2, d).hessXX!, asym));
  throwsCode(() => wireToPartials({ rows: 1, gradX: new Float64Array(3) }, d), 'PROTOCOL', /partials.gradX/);
});

test('chunking under max_payload reassembles exactly, in any order, ignoring duplicates', () => {
  const big = new Uint8Array(10_000).map((_, i) => (i * 31) & 255);
  assert.is(toFrames('x', big, 20_000).length, 1);
  const frames = toFrames('x', big, 3000);
  assert.ok(frames.length >= 4);
  for (const f of frames) assert.ok(f.length <= 3000);
  const r = new Reassembler();
  const order = [...frames.keys()].reverse();
  let out: Uint8Array | undefined;
  for (const i of order) {
    out = r.push(frames[i]!);
    if (i === order[0]) assert.is(r.push(frames[i]!), undefined);
  }
  assert.ok(out && out.length === big.length && out.every((v, i) => v === big[i]));
  assert.is(r.pending, 0);
  const whole = encode({ v: PROTOCOL_VERSION, kind: 'cancel', jobId: 'j' });
  assert.is(r.push(whole), whole);
});

test('job spec validation names the field and the value', () => {
  const ok = validateJobSpec({
    problem,
    options: { method: 'newton', tol: 1e-10, maxIter: 20, x0: new Float64Array(4) },
    name: 'p',
  });
  assert.is(ok.options.method, 'newton');
  throwsCode(() => validateJobSpec({ problem, options: { tol: -1 } }), 'BAD_OPTION', /options\.tol.*got -1/);
  throwsCode(
    () => validateJobSpec({ problem, options: { method: 'magic' } }),
    'BAD_OPTION',
    /options\.method.*"magic"/,
  );
  throwsCode(
    () => validateJobSpec({ problem, options: { x0: new Float64Array(3) } }),
    'BAD_OPTION',
    /options\.x0.*d×d = 4/,
  );
  throwsCode(() => validateJobSpec({ problem, options: { frobnicate: 1 } }), 'BAD_OPTION', /options\.frobnicate/);
  const s = validateJobSpec({ problem, options: { search: true, budgetSeconds: 30, maxEvals: 500 } });
  assert.equal([s.options.search, s.options.budgetSeconds, s.options.maxEvals], [true, 30, 500]);
  throwsCode(() => validateJobSpec({ problem, options: { search: 'yes' } }), 'BAD_OPTION', /options\.search.*"yes"/);
  throwsCode(
    () => validateJobSpec({ problem, options: { budgetSeconds: 0 } }),
    'BAD_OPTION',
    /options\.budgetSeconds.*got 0/,
  );
  throwsCode(() => validateJobSpec({ problem, options: { maxEvals: 2.5 } }), 'BAD_OPTION', /options\.maxEvals.*2\.5/);
  throwsCode(
    () => validateJobSpec({ problem: { ...problem, hash: 'zz' }, options: {} }),
    'BAD_OPTION',
    /problem\.hash.*"zz"/,
  );
  throwsCode(
    () => validateJobSpec({ problem: { ...problem, n: 0 }, options: {} }),
    'BAD_OPTION',
    /n must be an integer >= 1/,
  );
  // Refused at submit time rather than when the job runs (or holds its slot until cancelled).
  throwsCode(
    () => validateJobSpec({ problem, options: { tol: 0 } }),
    'BAD_OPTION',
    /options\.tol: must be a finite number > 0 \(got 0\)/,
  );
  throwsCode(
    () => validateJobSpec({ problem, options: { starts: 2 ** 53 - 1 } }),
    'BAD_OPTION',
    /options\.starts: must be an integer in \[1, 10000\]/,
  );
  throwsCode(
    () => validateJobSpec({ problem, options: {}, name: 'x'.repeat(5000) }),
    'BAD_OPTION',
    /name: must be at most 4096 characters \(got "x+"… \(5000 characters\)\)/,
  );
  assert.is(validateJobSpec({ problem, options: { starts: 10_000, tol: 1e-300 } }).options.starts, 10_000);
});

test('problem blob round trip and content hash', () => {
  const n = 3,
    d = 2;
  const mk = (s: number) => Float64Array.from({ length: n * d }, (_, i) => s + i / 7);
  const p = { n, d, A1: mk(1), A2: mk(2), A3: mk(3), B: mk(4) };
  const blob = packProblem(p);
  const ref = problemRef(blob, n, d);
  assert.match(ref.hash, /^[0-9a-f]{64}$/);
  assert.is(ref.object, `problem-${ref.hash}`);
  const back = unpackProblem(blob, new SharedArrayBuffer(32 * n * d));
  assert.instance(back.A1.buffer, SharedArrayBuffer);
  for (const k of ['A1', 'A2', 'A3', 'B'] as const) assert.ok(bitsEqual(back[k], p[k]));
  throwsCode(() => unpackProblem(blob.subarray(0, 20)), 'BAD_FILE', /does not match/);
});

test.run();
