/**
 * Property-based fuzzing of the file decoders: .npy and .safetensors (pure byte decoders and the
 * streaming file readers). Property: every input either decodes correctly or is refused with a
 * coded AttnfitError (BAD_FILE / BAD_DTYPE) — never another exception, a hang, or an allocation
 * proportional to a size a header claims rather than to the bytes really there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeNpy,
  decodeSafetensors,
  encodeNpy,
  encodeSafetensors,
  readNpy,
  readSafetensors,
  shapeSize,
  type NdArray,
} from '@attnfit/shared/io';
import { OpsParser, parseDynamicOp, type DynamicOp } from '@attnfit/shared/dynamic';
import { RUNS, absurdInt, check, coded, codedAsync, mutate, timeTests, type Outcome } from './harness.js';

timeTests(test);

const NPY_CODES = ['BAD_FILE', 'BAD_DTYPE'] as const;
const enc = new TextEncoder();

// ---------------------------------------------------------------- .npy

const descr = fc.oneof(
  fc.constantFrom(
    "'<f8'",
    "'>f8'",
    "'<f4'",
    "'>f4'",
    "'|f8'",
    "'<f2'",
    "'<f16'",
    "'<i8'",
    "'|b1'",
    "'<c16'",
    "'|O'",
    "'<U3'",
    "'|S0'",
    "'V8'",
    "''",
  ),
  fc.constantFrom(
    "[('a', '<f8')]",
    '[]',
    'None',
    '8',
    "('<f8', (2,))",
    "'<f8' '<f8'",
    "'constructor'",
    "'toString'",
    "'__proto__'",
    "'hasOwnProperty'",
  ),
  fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
);
const dim = fc.oneof(
  absurdInt.map(String),
  fc.constantFrom('2L', '-0', '+3', '0x10', '1.0', '1e3', "'2'", 'None', '99999999999999999999999'),
);
const shapeText = fc.oneof(
  fc.array(dim, { maxLength: 4 }).map((ds) => (ds.length === 1 ? `(${ds[0]},)` : `(${ds.join(', ')})`)),
  fc.constantFrom('()', '[2, 2]', '(2, 2', '((2,),)', '2', "'(2,)'", '(,)'),
  fc.integer({ min: 9, max: 120 }).map((k) => `(${'1, '.repeat(k)})`), // many dimensions
  fc.integer({ min: 1, max: 400 }).map((k) => `${'('.repeat(k)}1${')'.repeat(k)}`), // deep nesting
);
const fortran = fc.constantFrom('False', 'True', '0', '1', "'False'", 'None');

/** A .npy file whose header comes from a grammar of valid and hostile pieces. */
const npyFromGrammar = fc
  .record({
    major: fc.constantFrom(1, 2, 3, 0, 4, 255),
    minor: fc.constantFrom(0, 0, 0, 1),
    descr,
    fortran,
    shape: shapeText,
    keys: fc.constantFrom('normal', 'extra', 'missing', 'dup', 'garbage'),
    pad: fc.nat(40),
    hlenDelta: fc.constantFrom(0, 0, 0, 0, -1, 1, 1000, 2 ** 31),
    data: fc.uint8Array({ maxLength: 96 }),
  })
  .map((g) => {
    let dict = `{'descr': ${g.descr}, 'fortran_order': ${g.fortran}, 'shape': ${g.shape}, }`;
    if (g.keys === 'extra') dict = dict.replace('}', "'x': 1, }");
    if (g.keys === 'missing') dict = `{'descr': ${g.descr}, 'shape': ${g.shape}}`;
    if (g.keys === 'dup') dict = dict.replace('}', `'shape': ${g.shape}}`);
    if (g.keys === 'garbage') dict = dict.slice(0, Math.max(0, dict.length - g.pad));
    const header = enc.encode(`${dict}${' '.repeat(g.pad)}\n`);
    const pre = g.major === 1 || g.major === 0 ? 10 : 12;
    const out = new Uint8Array(pre + header.length + g.data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, g.major, g.minor]);
    const dv = new DataView(out.buffer);
    const hlen = header.length + g.hlenDelta;
    if (pre === 10) dv.setUint16(8, hlen & 0xffff, true);
    else dv.setUint32(8, hlen >>> 0, true);
    out.set(header, pre);
    out.set(g.data, pre + header.length);
    return out;
  });

const goodNpy = fc
  .tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }))
  .chain(([r, c]) => fc.float64Array({ minLength: r * c, maxLength: r * c }).map((data) => encodeNpy(data, [r, c])));

const npyBytes = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 160 }) },
  { weight: 4, arbitrary: npyFromGrammar },
  { weight: 2, arbitrary: goodNpy.chain(mutate) },
);

/** A successful decode must be self-consistent: shape product = element count, float64 out. */
function checkDecoded(a: NdArray, bytes: number): void {
  if (!(a.data instanceof Float64Array)) throw new Error('data is not a Float64Array');
  if (a.data.length !== shapeSize(a.shape)) throw new Error(`shape ${a.shape.join('x')} but ${a.data.length} elements`);
  if (a.data.length * 4 > bytes) throw new Error(`${a.data.length} elements from ${bytes} bytes`);
}

test(`npy: ${RUNS} hostile files decode or fail with BAD_FILE / BAD_DTYPE`, () => {
  let decoded = 0,
    refused = 0;
  check(
    fc.property(npyBytes, (bytes) => {
      const r = coded(NPY_CODES, bytes.length, () => decodeNpy(bytes, 'fuzz.npy'));
      if (r.ok) {
        checkDecoded(r.value, bytes.length);
        decoded++;
      } else refused++;
    }),
  );
  assert.ok(decoded > 0 && refused > 0, `both outcomes exercised (decoded ${decoded}, refused ${refused})`);
});

test(`npy: valid files round-trip bit-exactly (${RUNS} cases)`, () => {
  check(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }).chain((shape) => {
        const len = shapeSize(shape);
        return fc.tuple(fc.constant(shape), fc.float64Array({ minLength: len, maxLength: len }));
      }),
      ([shape, data]) => {
        const back = decodeNpy(encodeNpy(data, shape), 'x.npy');
        assert.equal([...back.shape], shape);
        assert.equal(
          new Uint8Array(back.data.buffer, back.data.byteOffset, back.data.byteLength),
          new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        );
      },
    ),
  );
});

// ---------------------------------------------------------------- .safetensors

const stDtype = fc.oneof(
  fc.constantFrom(
    'F64',
    'F32',
    'F16',
    'BF16',
    'I64',
    'U8',
    'BOOL',
    'F8_E4M3',
    'f64',
    '',
    'constructor',
    'toString',
    '__proto__',
  ),
  fc.string({ maxLength: 4 }),
  fc.constant(7 as unknown as string),
);
const stShape = fc.oneof(
  fc.array(fc.oneof(fc.integer({ min: 0, max: 4 }), absurdInt, fc.constantFrom(1.5, -0, NaN as unknown as number)), {
    maxLength: 3,
  }),
  fc.integer({ min: 9, max: 120 }).map((k) => new Array<number>(k).fill(1)),
  fc.constantFrom(null, 'x', {}, [[2]], [true]),
);
const stOffsets = fc.oneof(
  fc.tuple(fc.nat(64), fc.nat(64)),
  fc.tuple(absurdInt, absurdInt),
  fc.constantFrom(null, [], [0], [0, 8, 16], ['0', '8'], [0.5, 8], [8, 0]),
);
const stEntry = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ dtype: stDtype, shape: stShape, data_offsets: stOffsets }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, 3, 'F64', [], { dtype: 'F64' }) },
);
const stHeaderJson = fc
  .dictionary(
    fc.oneof(
      fc.constantFrom('A1', 'A2', 'B', '__metadata__', '__proto__', 'constructor', ''),
      fc.string({ maxLength: 4 }),
    ),
    fc.oneof(
      stEntry,
      fc.dictionary(
        fc.string({ maxLength: 3 }),
        fc.oneof(fc.string({ maxLength: 3 }), fc.integer()),
      ) as fc.Arbitrary<unknown>,
    ),
    { maxKeys: 4 },
  )
  .map((h) => JSON.stringify(h));

/** A safetensors file: 8-byte header length (possibly a lie), header text, data. */
const stFromGrammar = fc
  .record({
    json: fc.oneof(
      { weight: 8, arbitrary: stHeaderJson },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.constantFrom('[]', 'null', '{"a":', '"x"', '{}') },
    ),
    lenKind: fc.constantFrom('exact', 'exact', 'exact', 'short', 'long', 'huge', 'u64max'),
    data: fc.uint8Array({ maxLength: 96 }),
  })
  .map((g) => {
    const hb = enc.encode(g.json);
    const out = new Uint8Array(8 + hb.length + g.data.length);
    const dv = new DataView(out.buffer);
    const n = {
      exact: BigInt(hb.length),
      short: BigInt(Math.max(0, hb.length - 1)),
      long: BigInt(hb.length + 5),
      huge: 2n ** 40n,
      u64max: 2n ** 64n - 1n,
    }[g.lenKind]!;
    dv.setBigUint64(0, n, true);
    out.set(hb, 8);
    out.set(g.data, 8 + hb.length);
    return out;
  });

const goodSt = fc
  .tuple(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.constantFrom('F64', 'F32') as fc.Arbitrary<'F64' | 'F32'>,
  )
  .chain(([r, c, dt]) =>
    fc.float64Array({ minLength: 2 * r * c, maxLength: 2 * r * c, noDefaultInfinity: true, noNaN: true }).map((data) =>
      encodeSafetensors({
        A1: { shape: [r, c], data: data.subarray(0, r * c), dtype: dt },
        B: { shape: [c, r], data: data.subarray(r * c) },
      }),
    ),
  );

const stBytes = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 160 }) },
  { weight: 4, arbitrary: stFromGrammar },
  { weight: 2, arbitrary: goodSt.chain(mutate) },
);

test(`safetensors: ${RUNS} hostile files decode or fail with BAD_FILE / BAD_DTYPE`, () => {
  let decoded = 0,
    refused = 0;
  check(
    fc.property(stBytes, (bytes) => {
      const r = coded(NPY_CODES, bytes.length, () => decodeSafetensors(bytes, 'fuzz.safetensors'));
      if (r.ok) {
        for (const a of r.value.values()) checkDecoded(a, bytes.length);
        decoded++;
      } else refused++;
    }),
  );
  assert.ok(decoded > 0 && refused > 0, `both outcomes exercised (decoded ${decoded}, refused ${refused})`);
});

// ---------------------------------------------------------------- streaming readers agree with the pure decoders

function sameOutcome<T>(a: Outcome<T>, b: Outcome<T>, eq: (x: T, y: T) => boolean, what: string): void {
  if (a.ok !== b.ok)
    throw new Error(
      `${what}: decoder ${a.ok ? 'accepted' : `refused (${!a.ok && a.error.message})`}, reader ${b.ok ? 'accepted' : `refused (${!b.ok && b.error.message})`}`,
    );
  if (!a.ok && !b.ok && a.error.code !== b.error.code)
    throw new Error(
      `${what}: codes differ: ${a.error.code} (${a.error.message}) vs ${b.error.code} (${b.error.message})`,
    );
  if (a.ok && b.ok && !eq(a.value, b.value)) throw new Error(`${what}: decoded values differ`);
}
const sameArray = (x: NdArray, y: NdArray): boolean =>
  x.shape.join() === y.shape.join() &&
  x.data.length === y.data.length &&
  x.data.every((v, i) => Object.is(v, y.data[i]));

test('readNpy / readSafetensors (files) give the same outcome as the pure decoders', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'attnfit-fuzz-'));
  try {
    let k = 0;
    await check(
      fc.asyncProperty(npyBytes, async (bytes) => {
        const p = join(dir, `f${k++ % 8}.npy`);
        await writeFile(p, bytes);
        const a = coded(NPY_CODES, bytes.length, () => decodeNpy(bytes, p));
        const b = await codedAsync(NPY_CODES, () => readNpy(p));
        sameOutcome(a, b, sameArray, 'npy');
      }),
      0.05,
    );
    await check(
      fc.asyncProperty(stBytes, async (bytes) => {
        const p = join(dir, `f${k++ % 8}.safetensors`);
        await writeFile(p, bytes);
        const a = coded(NPY_CODES, bytes.length, () => decodeSafetensors(bytes, p));
        const b = await codedAsync(NPY_CODES, () => readSafetensors(p));
        sameOutcome(
          a,
          b,
          (x, y) => x.size === y.size && [...x].every(([key, v]) => y.has(key) && sameArray(v, y.get(key)!)),
          'safetensors',
        );
      }),
      0.05,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- ops.jsonl

const OPS_N = 5,
  OPS_D = 3,
  OPS_MAX_LINE = 200;
const opValue = fc.oneof(
  fc.nat(6),
  absurdInt,
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.oneof(fc.double(), fc.integer({ min: -3, max: 3 }), fc.string({ maxLength: 2 })), { maxLength: 5 }),
);
const opObject = fc.record(
  {
    op: fc.oneof(
      fc.constantFrom(
        'updateK',
        'updateV',
        'setK',
        'setV',
        'updateKRow',
        'updateVRow',
        'query',
        'queryRow',
        'toString',
        '__proto__',
      ),
      opValue,
    ),
    i: opValue,
    j: opValue,
    delta: opValue,
  },
  { requiredKeys: [] },
);
/** One ops line: a (possibly invalid) op, broken JSON, blank, very long, or non-ASCII. */
const opsLine = fc.oneof(
  { weight: 6, arbitrary: opObject.map((o) => JSON.stringify(o)) },
  {
    weight: 2,
    arbitrary: fc
      .record({
        op: fc.constantFrom('query', 'updateK', 'updateKRow'),
        i: fc.nat(OPS_N - 1),
        j: fc.nat(OPS_D - 1),
        delta: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant([1, -2, 0.5])),
      })
      .map((o) => JSON.stringify(o)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '   ',
      '\r',
      '{',
      '[]',
      'null',
      '{"op":"query","i":0,"j":0}\r',
      '{"op":"query","i":0,"j":0,}',
      '\u00e9\u4e2d\ud83d\ude00',
      '{"op":"qu\u00e9ry","i":0,"j":0}',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: OPS_MAX_LINE - 2, max: OPS_MAX_LINE + 40 })
      .map((k) => `{"op":"query","i":0,"j":0,"pad":"${'x'.repeat(k)}"}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20, unit: 'binary' }) },
);
const opsFile = fc
  .tuple(fc.array(opsLine, { maxLength: 12 }), fc.boolean())
  .map(([lines, trailingNl]) => enc.encode(lines.join('\n') + (trailingNl ? '\n' : '')));

function parseOps(bytes: Uint8Array, cuts: number[]): Outcome<DynamicOp[]> {
  return coded(['BAD_OP'], bytes.length, () => {
    const p = new OpsParser(OPS_N, OPS_D, { label: 'ops.jsonl', maxLineBytes: OPS_MAX_LINE });
    let at = 0;
    for (const c of [...cuts].sort((a, b) => a - b)) {
      const k = Math.min(c, bytes.length);
      p.push(bytes.subarray(at, k));
      at = Math.max(at, k);
    }
    p.push(bytes.subarray(at));
    return p.end();
  });
}

test(`ops.jsonl: ${RUNS} hostile files parse or fail with BAD_OP naming the line, whatever the chunking`, () => {
  let parsed = 0,
    refused = 0;
  check(
    fc.property(opsFile, fc.array(fc.nat(400), { maxLength: 6 }), (bytes, cuts) => {
      const whole = parseOps(bytes, []);
      const chunked = parseOps(bytes, cuts);
      if (whole.ok !== chunked.ok) throw new Error('chunking changed the outcome');
      if (!whole.ok && !chunked.ok) {
        assert.is(chunked.error.message, whole.error.message);
        assert.match(whole.error.message, /^ops\.jsonl line \d+: /);
        refused++;
      }
      if (whole.ok && chunked.ok) {
        assert.equal(chunked.value, whole.value);
        for (const op of whole.value) {
          assert.ok(op.i >= 0 && op.i < OPS_N);
          if ('j' in op) assert.ok(op.j >= 0 && op.j < OPS_D);
        }
        parsed++;
      }
    }),
  );
  assert.ok(parsed > 0 && refused > 0, `both outcomes exercised (parsed ${parsed}, refused ${refused})`);
});

test(`ops: ${RUNS} arbitrary JSON values validate as ops or fail with BAD_OP`, () => {
  check(
    fc.property(fc.oneof(opObject, fc.jsonValue({ maxDepth: 3 })), (v) => {
      coded(['BAD_OP'], 1024, () => parseDynamicOp(v, OPS_N, OPS_D));
    }),
  );
});

test.run();
