// The kernels' WebAssembly memory at its 4 GiB limit (own test file: it fills this process's
// memory). Regions are reserved without touching their pages, so this costs address space, not
// RAM. Once full: wasmArray hands out plain arrays, and a product whose workspace no longer fits
// runs on the TypeScript kernel — same results to rounding, no crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dgemm, dgemmRef, wasmArray, gemmBackend } from '@attnfit/shared/kernels';
import { rng, randMatrix, relErr } from '../helpers/rng.js';

test('a full WebAssembly memory degrades to plain arrays and the TypeScript kernel', () => {
  assert.is(gemmBackend(), 'wasm-simd');
  const r = rng(4);
  // a small product first: its workspace region is reserved while there is room
  const A0 = randMatrix(r, 32, 32),
    C0 = new Float64Array(32 * 32),
    W0 = new Float64Array(32 * 32);
  dgemm(false, false, 32, 32, 32, 1, A0, 0, 32, A0, 0, 32, 0, C0, 0, 32);
  dgemmRef(false, false, 32, 32, 32, 1, A0, 0, 32, A0, 0, 32, 0, W0, 0, 32);
  assert.ok(relErr(C0, W0) < 1e-13);
  // fill the address space: ~4 GiB minus a little, in two regions (pages never touched)
  const big = wasmArray(2 ** 29 - 2 ** 24);
  assert.ok(big.buffer instanceof SharedArrayBuffer, 'the big region lives in WebAssembly memory');
  const rest = wasmArray(2 ** 24); // does not fit any more
  assert.not.ok(rest.buffer instanceof SharedArrayBuffer, 'past the limit wasmArray returns a plain array');
  assert.is(rest.length, 2 ** 24);
  // a product whose workspace is larger than any reserved so far: the TypeScript kernel runs it
  const M = 300,
    N = 700,
    K = 900;
  const A = randMatrix(r, M, K),
    B = randMatrix(r, K, N),
    C = new Float64Array(M * N),
    want = new Float64Array(M * N);
  dgemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N);
  dgemmRef(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, want, 0, N);
  assert.ok(relErr(C, want) < 1e-13, `rel err ${relErr(C, want)}`);
  big[big.length - 1] = 1; // the reserved region is usable (touches one page)
  assert.is(big[big.length - 1], 1);
});

test.run();
