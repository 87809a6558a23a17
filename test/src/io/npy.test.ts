import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttnfitError } from '@attnfit/shared/core';
import { decodeNpy, encodeNpy, readNpy, writeNpy, parseNpyHeader } from '@attnfit/shared/io';

const FIX = fileURLToPath(new URL('../../fixtures/npy/', import.meta.url));
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  good: Record<string, { shape: number[]; dtype: string; data: number[] }>;
  bad: Record<string, string>;
};

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    assert.instance(e, AttnfitError);
    return { code: String((e as AttnfitError).code), message: (e as Error).message };
  }
  throw new Error('expected an AttnfitError');
}

test('every numpy-written fixture decodes to the values numpy saw (C order, float64)', async () => {
  const names = Object.keys(expected.good);
  assert.ok(names.length >= 14);
  for (const name of names) {
    const want = expected.good[name]!;
    const a = await readNpy(join(FIX, name));
    assert.equal(a.shape, want.shape, name);
    assert.is(a.dtype, want.dtype, name);
    assert.is(a.data.length, want.data.length, name);
    for (let i = 0; i < want.data.length; i++)
      assert.ok(Object.is(a.data[i], want.data[i]), `${name}[${i}]: ${a.data[i]} vs ${want.data[i]}`);
  }
});

test('header versions are parsed (1.0, 2.0, 3.0) and Fortran order is reported', () => {
  for (const [name, v] of [
    ['f8_c.npy', 1],
    ['f8_v2.npy', 2],
    ['f8_v3.npy', 3],
  ] as const) {
    const h = parseNpyHeader(new Uint8Array(readFileSync(join(FIX, name))), name);
    assert.equal(h.version, [v, 0]);
    assert.is(h.fortranOrder, false);
  }
  assert.is(parseNpyHeader(new Uint8Array(readFileSync(join(FIX, 'f8_fortran.npy'))), 'x').fortranOrder, true);
});

test('every bad fixture is refused with its code and the file named', async () => {
  for (const [name, code] of Object.entries(expected.bad)) {
    const path = join(FIX, name);
    let err: unknown;
    try {
      await readNpy(path);
    } catch (e) {
      err = e;
    }
    assert.instance(err, AttnfitError, name);
    assert.is((err as AttnfitError).code, code, `${name}: ${(err as Error).message}`);
    assert.ok((err as Error).message.startsWith(`${path}: `), (err as Error).message);
  }
});

test('BAD_DTYPE messages name the dtype and the fix', () => {
  const { code, message } = codeOf(() => decodeNpy(new Uint8Array(readFileSync(join(FIX, 'bad_i8.npy'))), 'ints.npy'));
  assert.is(code, 'BAD_DTYPE');
  assert.match(message, /^ints\.npy: dtype '<i8' \(signed integer\) is not supported: use float64 or float32/);
  assert.match(
    codeOf(() => decodeNpy(new Uint8Array(readFileSync(join(FIX, 'bad_b1.npy'))), 'b.npy')).message,
    /'\|b1' \(bool\)/,
  );
});

test('truncated and oversized data: BAD_FILE with byte counts', () => {
  const good = new Uint8Array(readFileSync(join(FIX, 'f8_c.npy')));
  for (let cut = 1; cut < good.length; cut += 7) {
    const { code } = codeOf(() => decodeNpy(good.subarray(0, good.length - cut), 't.npy'));
    assert.is(code, 'BAD_FILE', `cut ${cut}`);
  }
  assert.match(
    codeOf(() => decodeNpy(good.subarray(0, good.length - 8), 't.npy')).message,
    /truncated: .*96 bytes of data\) but the file has 88/,
  );
});

test('malformed headers: missing keys, bad shape, bad version, bad fortran_order', () => {
  const mk = (dict: string, major = 1, minor = 0): Uint8Array => {
    const body = dict.padEnd(118 - 1, ' ') + '\n';
    const b = new Uint8Array(10 + body.length);
    b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, minor]);
    new DataView(b.buffer).setUint16(8, body.length, true);
    for (let i = 0; i < body.length; i++) b[10 + i] = body.charCodeAt(i);
    return b;
  };
  const cases: [Uint8Array, RegExp][] = [
    [mk("{'descr': '<f8', 'shape': (0,), }"), /keys are \{descr, shape\}/],
    [mk("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }"), /shape is not a tuple of non-negative integers/],
    [mk("{'descr': '<f8', 'fortran_order': False, 'shape': [0], }"), /shape is not a tuple/],
    [mk("{'descr': '<f8', 'fortran_order': 0, 'shape': (0,), }"), /fortran_order is not True\/False/],
    [mk("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", 4), /unsupported \.npy format version 4\.0/],
    [
      mk("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), } junk"),
      /malformed \.npy header: unexpected trailing text/,
    ],
    [mk("{'descr': '<f8', 'fortran_order': False, 'shape': (0,)"), /malformed \.npy header/],
    [mk('not a dict'), /malformed \.npy header/],
  ];
  for (const [bytes, re] of cases) {
    const { code, message } = codeOf(() => decodeNpy(bytes, 'h.npy'));
    assert.is(code, 'BAD_FILE', message);
    assert.match(message, re);
    assert.ok(message.startsWith('h.npy: '));
  }
  // A valid header for an empty array is accepted (Python 2 style 'L' suffix too).
  assert.equal(decodeNpy(mk("{'descr': '<f8', 'fortran_order': False, 'shape': (0L, 3L), }"), 'ok').shape, [0, 3]);
});

test('encodeNpy → decodeNpy round trip; header is 64-byte aligned v1.0 <f8 C order', () => {
  for (const shape of [[], [0], [5], [3, 4], [1, 1], [2, 3, 2]]) {
    const len = shape.reduce((a, b) => a * b, 1);
    const data = Float64Array.from({ length: len }, (_, i) => (i - 2.5) / 3 + (i === 1 ? -0 : 0));
    const bytes = encodeNpy(data, shape);
    const h = parseNpyHeader(bytes, 'rt');
    assert.equal(h.version, [1, 0]);
    assert.is(h.dataOffset % 64, 0);
    assert.is(h.descr, '<f8');
    const back = decodeNpy(bytes, 'rt');
    assert.equal(back.shape, shape);
    assert.equal(Array.from(back.data), Array.from(data));
  }
  // Exact bytes numpy writes for np.save(f, np.arange(12.).reshape(3,4) * 0 + base) headers:
  const numpyBytes = new Uint8Array(readFileSync(join(FIX, 'f8_c.npy')));
  const mine = encodeNpy(decodeNpy(numpyBytes, 'x').data, [3, 4]);
  assert.equal(Array.from(mine), Array.from(numpyBytes), 'byte-identical to numpy for a 3x4 float64');
});

test('shared option allocates on a SharedArrayBuffer (also for Fortran order)', async () => {
  for (const name of ['f8_c.npy', 'f8_fortran.npy', 'f4_be.npy']) {
    const a = await readNpy(join(FIX, name), { shared: true });
    assert.ok(a.data.buffer instanceof SharedArrayBuffer, name);
    assert.equal(Array.from(a.data), expected.good[name]!.data);
  }
});

test('writeNpy is atomic: writes the file, leaves no temp files, creates the directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'attnfit-npy-'));
  try {
    const out = join(dir, 'sub', 'deeper', 'X.npy');
    await writeNpy(out, [1, 2, 3, 4], [2, 2]);
    assert.equal(Array.from((await readNpy(out)).data), [1, 2, 3, 4]);
    await writeNpy(out, [5, 6], [2]); // overwrite in place
    assert.equal((await readNpy(out)).shape, [2]);
    assert.equal(await readdir(join(dir, 'sub', 'deeper')), ['X.npy']);
    // A file where a directory should be: BAD_OPTION, nothing written.
    await writeFile(join(dir, 'blocker'), 'x');
    let err: unknown;
    try {
      await writeNpy(join(dir, 'blocker', 'Y.npy'), [1], [1]);
    } catch (e) {
      err = e;
    }
    assert.instance(err, AttnfitError);
    assert.is((err as AttnfitError).code, 'BAD_OPTION');
    // Missing file: FILE_NOT_FOUND naming the label.
    err = undefined;
    try {
      await readNpy(join(dir, 'nope.npy'), { label: '--x nope.npy' });
    } catch (e) {
      err = e;
    }
    assert.is((err as AttnfitError).code, 'FILE_NOT_FOUND');
    assert.is((err as Error).message, '--x nope.npy: file not found');
    // A directory where a file is expected: BAD_FILE.
    err = undefined;
    try {
      await readNpy(dir);
    } catch (e) {
      err = e;
    }
    assert.is((err as AttnfitError).code, 'BAD_FILE');
    assert.is((err as Error).message, `${dir}: is a directory, expected a file`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
