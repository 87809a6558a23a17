// WebAssembly SIMD and packed-TS GEMM backends against the reference kernel (the oracle):
// odd shapes across block edges, all transposes, strides, offsets, alpha/beta variants,
// β = 0 with NaN in C, K = 0, memory growth, and backend selection (ATTNFIT_GEMM). Both
// WebAssembly variants are checked: the relaxed-SIMD FMA kernel and the plain mul+add kernel.
import '@attnfit/shared/wasm-flags'; // relaxed SIMD on, as every attnfit entry point does
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  dgemm,
  dgemmRef,
  dgemmWasm,
  dgemmWasmPacked,
  dgemmTs,
  dgemmTsPacked,
  gemmBackend,
  gemmBackends,
  setGemmBackend,
  wasmGemmAvailable,
  gemmWasmLoadError,
  GEMM_BLOCKING,
  gemmBackendDetail,
  setWasmGemmVariant,
  wasmGemmVariant,
  wasmGemmVariants,
  wasmGemmFmaStatus,
  type WasmGemmVariant,
  wasmArray,
} from '@attnfit/shared/kernels';
import { rng, randMatrix, relErr } from '../helpers/rng.js';

type Gemm = typeof dgemmRef;
const r = rng(20261123);

/** Runs `f` and the reference on the same padded/offset operands; returns [got, want, C0]. */
function run(
  f: Gemm,
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  beta: number,
  pad = 0,
  nanC = false,
) {
  const lda = (tA ? M : K) + pad,
    ldb = (tB ? K : N) + pad,
    ldc = N + pad;
  const offA = pad * 3,
    offB = pad * 5,
    offC = pad * 7;
  const A = randMatrix(r, offA + (tA ? K : M) * lda + 1, 1),
    B = randMatrix(r, offB + (tB ? N : K) * ldb + 1, 1);
  const C0 = randMatrix(r, offC + M * ldc + 1, 1);
  if (nanC) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C0[offC + i * ldc + j] = NaN;
  const want = C0.slice(),
    got = C0.slice();
  dgemmRef(tA, tB, M, N, K, alpha, A, offA, Math.max(lda, 1), B, offB, Math.max(ldb, 1), beta, want, offC, ldc);
  f(tA, tB, M, N, K, alpha, A, offA, Math.max(lda, 1), B, offB, Math.max(ldb, 1), beta, got, offC, ldc);
  return { got, want, C0 };
}

/** `f` with the WebAssembly variant `v` selected for the call. */
const withVariant =
  (v: WasmGemmVariant, f: Gemm): Gemm =>
  (...args) => {
    setWasmGemmVariant(v);
    f(...args);
  };
const packed: [string, Gemm][] = [
  ['wasm-packed-fma', withVariant('fma', dgemmWasmPacked)],
  ['wasm-packed-plain', withVariant('plain', dgemmWasmPacked)],
  ['ts-packed', dgemmTsPacked],
  ['wasm', dgemmWasm],
  ['ts', dgemmTs],
];
const { mr, nr, mc, kc, nc } = GEMM_BLOCKING.wasm;

test('the WebAssembly kernels load in this build', () => {
  assert.ok(wasmGemmAvailable, `wasm gemm unavailable: ${gemmWasmLoadError()}`);
  assert.equal(gemmWasmLoadError(), '');
});

test('the relaxed-SIMD FMA variant loads once the flag is set, and is chosen automatically', () => {
  assert.equal(wasmGemmVariants(), ['fma', 'plain'], wasmGemmFmaStatus());
  assert.is(wasmGemmVariant(), 'fma');
  assert.is(wasmGemmFmaStatus(), '');
  assert.is(gemmBackendDetail(), 'wasm-simd (f64x2 FMA)');
  assert.throws(
    () => setWasmGemmVariant('avx' as WasmGemmVariant),
    (e: unknown) => e instanceof RangeError && /unknown variant 'avx'/.test(e.message),
  );
});

test('the FMA and plain variants agree to rounding and each is deterministic', () => {
  const M = mc + 9,
    N = nc + 5,
    K = kc + 11;
  const A = randMatrix(r, M, K),
    B = randMatrix(r, K, N);
  const out = (v: WasmGemmVariant) => {
    setWasmGemmVariant(v);
    const C = new Float64Array(M * N);
    dgemmWasmPacked(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N);
    return C;
  };
  const f1 = out('fma'),
    p1 = out('plain'),
    f2 = out('fma'),
    p2 = out('plain');
  assert.ok(f1.every((v, i) => Object.is(v, f2[i])) && p1.every((v, i) => Object.is(v, p2[i])));
  assert.ok(relErr(f1, p1) < 1e-14, `rel diff ${relErr(f1, p1)}`);
  assert.ok(
    f1.some((v, i) => v !== p1[i]),
    'the FMA variant rounds differently somewhere (it is really fused)',
  );
  setWasmGemmVariant('fma');
});

test('packed backends equal the reference: odd shapes, edge tiles, all transposes, strides, offsets', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [mr - 1, nr + 1, 3],
    [mr + 1, nr - 1, 1],
    [7, 9, 5],
    [1, 37, 19],
    [29, 1, 31],
    [mc + 3, 2 * nr + 5, kc + 7],
    [2 * mr + 1, nc + 3, 17],
    [33, 21, 2 * kc + 1],
  ];
  for (const [name, f] of packed)
    for (const [M, N, K] of shapes)
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          for (const pad of [0, 3]) {
            const { got, want } = run(f, tA, tB, M, N, K, 0.75, 0.5, pad);
            const e = relErr(got, want);
            assert.ok(e < 1e-13, `${name} M=${M} N=${N} K=${K} tA=${tA} tB=${tB} pad=${pad}: rel err ${e}`);
          }
        }
});

test('alpha/beta variants, including alpha = 0 and beta = 1 / -1 / 0', () => {
  for (const [name, f] of packed)
    for (const alpha of [1, -2.5, 0])
      for (const beta of [0, 1, -1, 0.3]) {
        const { got, want } = run(f, false, true, 19, 23, 11, alpha, beta, 2);
        assert.ok(relErr(got, want) < 1e-13, `${name} alpha=${alpha} beta=${beta}`);
      }
});

test('beta = 0 never reads C: NaN in C does not propagate; entries outside the block are untouched', () => {
  for (const [name, f] of packed)
    for (const tA of [false, true])
      for (const tB of [false, true]) {
        const { got, want, C0 } = run(f, tA, tB, 13, 2 * nr + 3, 9, 1.5, 0, 4, true);
        assert.ok(
          got.every((v) => !Number.isNaN(v)),
          `${name}: NaN leaked`,
        );
        assert.ok(relErr(got, want) < 1e-13, name);
        // padding columns of each C row and the leading offset keep their old values
        const ldc = 2 * nr + 3 + 4,
          offC = 28;
        for (let i = 0; i < offC; i++) assert.is(got[i], C0[i]);
        for (let i = 0; i < 13; i++)
          for (let j = 2 * nr + 3; j < ldc; j++)
            if (offC + i * ldc + j < got.length) assert.is(got[offC + i * ldc + j], C0[offC + i * ldc + j]);
      }
});

test('K = 0 only scales C (beta = 0 clears it, even over NaN)', () => {
  for (const [name, f] of packed) {
    let { got, want } = run(f, false, false, 5, 6, 0, 1, 0.5, 1);
    assert.equal(Array.from(got), Array.from(want), `${name} beta=0.5`);
    ({ got, want } = run(f, true, true, 5, 6, 0, 1, 0, 1, true));
    assert.equal(Array.from(got), Array.from(want), `${name} beta=0`);
    assert.ok(got.every((v) => !Number.isNaN(v)));
  }
});

test('the plain WebAssembly and packed-TS kernels are bitwise identical (same packing and summation order)', () => {
  setWasmGemmVariant('plain');
  for (const [M, N, K] of [
    [mc + 5, nc + 9, kc + 3],
    [64, 64, 64],
  ] as const) {
    const A = randMatrix(r, M, K),
      B = randMatrix(r, N, K);
    const c1 = new Float64Array(M * N),
      c2 = new Float64Array(M * N);
    dgemmWasmPacked(false, true, M, N, K, 1, A, 0, K, B, 0, K, 0, c1, 0, N);
    dgemmTsPacked(false, true, M, N, K, 1, A, 0, K, B, 0, K, 0, c2, 0, N);
    assert.ok(
      c1.every((v, i) => Object.is(v, c2[i])),
      `M=${M} N=${N} K=${K}`,
    );
  }
  setWasmGemmVariant('fma');
});

test('WebAssembly memory grows for a large K panel and results stay right', () => {
  const M = 6,
    N = nc + 7,
    K = 3001; // packed B: K × NC·8 B ≈ 12 MiB > the initial 1 MiB
  for (const v of ['fma', 'plain'] as const) {
    const { got, want } = run(withVariant(v, dgemmWasmPacked), true, false, M, N, K, 1, 0, 1);
    assert.ok(relErr(got, want) < 1e-12, `${v}: rel err ${relErr(got, want)}`);
  }
  setWasmGemmVariant('fma');
});

/** A copy of `a` that lives in the kernels' WebAssembly memory. */
const resident = (a: Float64Array) => {
  const r = wasmArray(a.length);
  r.set(a);
  return r;
};

test("operands in the kernels' memory are used in place (no packing of A, no C buffer): bitwise the copying path", () => {
  const shapes: [number, number, number][] = [
    [2, 8, 1],
    [mr * 65, nr * 9, kc + 5],
    [mc + mr, nc + nr, kc + 3], // aligned: A and C in place, across block edges
    [7, 9, 5],
    [mr * 5, 21, 300],
    [13, nr * 3, 40], // not aligned: the copying path
  ];
  for (const v of ['fma', 'plain'] as const)
    for (const [M, N, K] of shapes)
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          for (const beta of [0, 1, 0.5]) {
            const pad = 3,
              lda = (tA ? M : K) + pad,
              ldb = (tB ? K : N) + 1,
              ldc = N + pad,
              offA = 2,
              offB = 1,
              offC = 5;
            const A = randMatrix(r, offA + (tA ? K : M) * lda, 1),
              B = randMatrix(r, offB + (tB ? N : K) * ldb, 1);
            const C0 = randMatrix(r, offC + M * ldc, 1);
            const plainC = C0.slice(),
              resC = resident(C0),
              resA = resident(A);
            setWasmGemmVariant(v);
            dgemmWasmPacked(tA, tB, M, N, K, 0.75, A, offA, lda, B, offB, ldb, beta, plainC, offC, ldc);
            dgemmWasmPacked(tA, tB, M, N, K, 0.75, resA, offA, lda, B, offB, ldb, beta, resC, offC, ldc);
            const tag = `${v} M=${M} N=${N} K=${K} tA=${tA} tB=${tB} beta=${beta}`;
            for (let i = 0; i < C0.length; i++)
              if (!Object.is(plainC[i], resC[i])) assert.unreachable(`${tag}: C[${i}] ${resC[i]} vs ${plainC[i]}`);
            const want = C0.slice();
            dgemmRef(tA, tB, M, N, K, 0.75, A, offA, lda, B, offB, ldb, beta, want, offC, ldc);
            assert.ok(relErr(resC, want) < 1e-13, tag); // also: padding columns and the offset are untouched
          }
        }
  setWasmGemmVariant('fma');
});

test("growing the kernels' memory keeps earlier arrays in it valid (a shared memory never detaches)", () => {
  const a = resident(randMatrix(r, 64, 64)),
    keep = a.slice();
  const big = wasmArray(3 << 20); // 24 MiB: grows the memory
  big[big.length - 1] = 1;
  assert.is(a.length, 64 * 64);
  assert.ok(a.every((x, i) => Object.is(x, keep[i])));
  const C = wasmArray(64 * 64),
    want = new Float64Array(64 * 64);
  dgemm(false, false, 64, 64, 64, 1, a, 0, 64, a, 0, 64, 0, C, 0, 64);
  dgemmRef(false, false, 64, 64, 64, 1, keep, 0, 64, keep, 0, 64, 0, want, 0, 64);
  assert.ok(relErr(C, want) < 1e-13);
});

test('backend selection: wasm-simd by default, setGemmBackend switches, unknown names are rejected', () => {
  assert.is(gemmBackend(), 'wasm-simd');
  assert.equal(gemmBackends().sort(), ['ts', 'ts-ref', 'wasm-simd']);
  const A = randMatrix(r, 40, 30),
    B = randMatrix(r, 30, 50);
  const outs: Float64Array[] = [];
  for (const name of ['ts', 'ts-ref', 'wasm-simd']) {
    setGemmBackend(name);
    assert.is(gemmBackend(), name);
    const C = new Float64Array(40 * 50);
    dgemm(false, false, 40, 50, 30, 1, A, 0, 30, B, 0, 50, 0, C, 0, 50);
    outs.push(C);
  }
  assert.ok(relErr(outs[0]!, outs[1]!) < 1e-14 && relErr(outs[2]!, outs[1]!) < 1e-14);
  assert.throws(
    () => setGemmBackend('cuda'),
    (e: unknown) => e instanceof RangeError && /unknown backend 'cuda'/.test(e.message),
  );
  assert.is(gemmBackend(), 'wasm-simd');
});

test('ATTNFIT_GEMM=ts forces the TypeScript fallback, =ref the reference kernel', () => {
  const cwd = fileURLToPath(new URL('.', import.meta.url));
  const probe = "import('@attnfit/shared/kernels').then((k) => process.stdout.write(k.gemmBackend()))";
  const backendWith = (v: string | undefined) => {
    const env = { ...process.env };
    if (v === undefined) delete env.ATTNFIT_GEMM;
    else env.ATTNFIT_GEMM = v;
    return execFileSync(process.execPath, ['-e', probe], { cwd, env, encoding: 'utf8' });
  };
  assert.is(backendWith('ts'), 'ts');
  assert.is(backendWith('ref'), 'ts-ref');
  assert.is(backendWith(undefined), 'wasm-simd');
});

test('without the relaxed-SIMD flag (ATTNFIT_WASM_FMA=0, or no entry point set it) the plain kernel runs', () => {
  const cwd = fileURLToPath(new URL('.', import.meta.url));
  const probe = (pre: string) =>
    `${pre}import('@attnfit/shared/kernels').then((k) => process.stdout.write(k.gemmBackendDetail() + '|' + k.wasmGemmVariants().join(',')))`;
  const run1 = (pre: string, fma?: string) => {
    const env = { ...process.env };
    delete env.ATTNFIT_GEMM;
    if (fma === undefined) delete env.ATTNFIT_WASM_FMA;
    else env.ATTNFIT_WASM_FMA = fma;
    return execFileSync(process.execPath, ['--input-type=module', '-e', probe(pre)], { cwd, env, encoding: 'utf8' });
  };
  assert.is(run1(''), 'wasm-simd (f64x2 mul+add)|plain');
  assert.is(run1("await import('@attnfit/shared/wasm-flags');", '0'), 'wasm-simd (f64x2 mul+add)|plain');
  assert.is(run1("await import('@attnfit/shared/wasm-flags');"), 'wasm-simd (f64x2 FMA)|fma,plain');
});

test.run();
