import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AttnfitError } from '@attnfit/shared/core';
import {
  decodeSafetensors,
  encodeSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  decodeNpy,
} from '@attnfit/shared/io';

const FIX = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const npyExpected = JSON.parse(readFileSync(join(FIX, 'npy', 'expected.json'), 'utf8')) as {
  good: Record<string, { data: number[] }>;
};

let tmp = '';
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'attnfit-st-'));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function errOf(fn: () => unknown): AttnfitError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, AttnfitError);
    return e as AttnfitError;
  }
  throw new Error('expected an AttnfitError');
}

/** Build a safetensors file from a raw header object and a data buffer (for malformed cases). */
function raw(header: unknown, data: Uint8Array, lenOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

test('hand-written fixture: F32 and F64 tensors, 0-d, unpadded header', async () => {
  const t = await readSafetensors(join(FIX, 'safetensors', 'mixed.safetensors'));
  assert.equal([...t.keys()].sort(), ['scalar', 'w32', 'w64']);
  assert.equal(t.get('w32')!.shape, [3, 4]);
  assert.is(t.get('w32')!.dtype, 'F32');
  assert.equal(Array.from(t.get('w32')!.data), npyExpected.good['f4_c.npy']!.data);
  assert.equal(Array.from(t.get('w64')!.data), npyExpected.good['f8_c.npy']!.data);
  assert.equal(t.get('scalar')!.shape, []);
  assert.equal(Array.from(t.get('scalar')!.data), [1.25]);
});

test('problem fixture equals the npy problem; metadata parsed; `only` skips an I64 tensor', async () => {
  const bytes = new Uint8Array(readFileSync(join(FIX, 'safetensors', 'problem.safetensors')));
  const h = parseSafetensorsHeader(bytes, 'p');
  assert.equal(h.metadata, { made_by: 'make_fixtures.py' });
  assert.is(h.tensors.get('step')!.dtype, 'I64');
  const t = decodeSafetensors(bytes, 'p', { only: ['A1', 'A2', 'A3', 'B'] });
  for (const k of ['A1', 'A2', 'A3', 'B']) {
    const npy = decodeNpy(new Uint8Array(readFileSync(join(FIX, 'problem', `${k}.npy`))), k);
    assert.equal(Array.from(t.get(k)!.data), Array.from(npy.data), k);
  }
  const e = errOf(() => decodeSafetensors(bytes, 'p.safetensors'));
  assert.is(e.code, 'BAD_DTYPE');
  assert.is(e.message, "p.safetensors: tensor 'step' has dtype I64, which is not supported: use F64 or F32");
});

test('F16 tensor: BAD_DTYPE naming file and tensor', async () => {
  let err: unknown;
  const path = join(FIX, 'safetensors', 'bad_f16.safetensors');
  try {
    await readSafetensors(path);
  } catch (e) {
    err = e;
  }
  assert.is((err as AttnfitError).code, 'BAD_DTYPE');
  assert.match((err as Error).message, /bad_f16\.safetensors: tensor 'A1' has dtype F16/);
});

test('encode → decode round trip (F64 exact, F32 rounded), header 8-byte aligned', () => {
  const a = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i) * 1e3);
  const bytes = encodeSafetensors(
    { a: { shape: [3, 4], data: a }, b: { shape: [2], data: [0.1, -2], dtype: 'F32' }, e: { shape: [0, 5], data: [] } },
    { k: 'v' },
  );
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is(hlen % 8, 0);
  const t = decodeSafetensors(bytes, 'rt');
  assert.equal(Array.from(t.get('a')!.data), Array.from(a));
  assert.equal(Array.from(t.get('b')!.data), [Math.fround(0.1), -2]);
  assert.equal(t.get('e')!.shape, [0, 5]);
  assert.equal(parseSafetensorsHeader(bytes, 'rt').metadata, { k: 'v' });
});

test('malformed files: BAD_FILE with a precise reason (in memory and streamed from disk)', async () => {
  const d16 = new Uint8Array(16);
  const ok = { x: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } };
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(3), /shorter than the 8-byte header length/],
    [raw(ok, d16, 10_000n), /truncated: header length 10000/],
    [raw(ok, d16, 1n << 60n), /header length/],
    [raw('[1, 2]', new Uint8Array(0)), /does not start with "\{"/],
    [raw('{"x": ', new Uint8Array(0)), /malformed safetensors header JSON/],
    [raw({ x: { dtype: 'F99', shape: [2], data_offsets: [0, 16] } }, d16), /tensor 'x': unknown dtype "F99"/],
    [
      raw({ x: { dtype: 'F64', shape: [-2], data_offsets: [0, 16] } }, d16),
      /tensor 'x': shape is not a list of non-negative integers/,
    ],
    [raw({ x: { dtype: 'F64', shape: [2], data_offsets: [16, 0] } }, d16), /data_offsets must be \[begin, end\]/],
    [
      raw({ x: { dtype: 'F64', shape: [3], data_offsets: [0, 16] } }, d16),
      /span 16 bytes but shape \[3\] of F64 needs 24/,
    ],
    [
      raw({ x: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(8)),
      /tensor 'x': truncated: data ends at byte 16 of the data buffer but the buffer has 8/,
    ],
    [raw(ok, new Uint8Array(24)), /data buffer has 24 bytes but the tensors cover 16/],
    [
      raw(
        {
          x: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
          y: { dtype: 'F64', shape: [1], data_offsets: [8, 16] },
        },
        d16,
      ),
      /overlaps/,
    ],
    [raw({ x: { dtype: 'F64', shape: [1], data_offsets: [8, 16] } }, d16), /gap in the data buffer before tensor 'x'/],
    [raw({ __metadata__: { a: 1 }, ...ok }, d16), /__metadata__ must map strings to strings/],
    [raw({ x: 5 }, d16), /tensor 'x': entry is not an object/],
  ];
  for (const [bytes, re] of cases) {
    const e = errOf(() => decodeSafetensors(bytes, 'bad.safetensors'));
    assert.is(e.code, 'BAD_FILE', e.message);
    assert.ok(e.message.startsWith('bad.safetensors: '), e.message);
    assert.match(e.message, re);
    // The streaming reader (header first, then tensors) says exactly the same.
    const path = join(tmp, 'bad.safetensors');
    await writeFile(path, bytes);
    let err: unknown;
    try {
      await readSafetensors(path, { label: 'bad.safetensors' });
    } catch (x) {
      err = x;
    }
    assert.instance(err, AttnfitError);
    assert.is((err as AttnfitError).code, 'BAD_FILE');
    assert.is((err as Error).message, e.message);
  }
  // Sanity: the base case is fine.
  assert.equal(decodeSafetensors(raw(ok, d16), 'ok').get('x')!.shape, [2]);
});

test.run();
