// Optional native BLAS backend (shared/native; `npm run build` compiles it when a CBLAS is
// installed, and the test command installs libopenblas-dev). When the addon is built it must
// equal the reference kernel within rounding and become the active backend; when it is absent or
// turned off (ATTNFIT_NATIVE=0, checked in a child process), importing the loader must change
// nothing and say why. The native exp test needs the addon: without it, it is reported skipped.
import { test } from 'uvu';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { nativeBlasStatus } from '@attnfit/shared/native';
import {
  dgemm,
  dgemmRef,
  gemmBackend,
  gemmBackends,
  expShiftSum,
  vexp,
  vexpBackend,
  vexpScalar,
  setExpKernel,
} from '@attnfit/shared/kernels';
import { rng, randMatrix, relErr } from '../helpers/rng.js';
import { testIf } from '../helpers/skip.js';

const st = nativeBlasStatus();

test('the loader reports its state; without the addon the WebAssembly backend stays active', () => {
  if (st.loaded) {
    assert.ok(st.active, st.reason);
    assert.is(gemmBackend(), 'native-blas');
    assert.ok(gemmBackends().includes('native-blas'));
    assert.ok(st.config.length > 0);
  } else {
    assert.ok(st.reason.length > 0);
    assert.is(gemmBackend(), 'wasm-simd');
    assert.not.ok(gemmBackends().includes('native-blas'));
  }
});

test('the active backend equals the reference: transposes, strides, offsets, alpha/beta, β = 0 over NaN, K = 0', () => {
  const r = rng(5);
  for (const [M, N, K] of [
    [1, 1, 1],
    [7, 9, 5],
    [130, 67, 300],
    [6, 5, 0],
  ] as const)
    for (const tA of [false, true])
      for (const tB of [false, true]) {
        for (const [alpha, beta] of [
          [1, 0],
          [0.5, 1],
          [-2, 0.25],
        ] as const) {
          const lda = (tA ? M : K) + 2,
            ldb = (tB ? K : N) + 1,
            ldc = N + 3,
            off = 4;
          const A = randMatrix(r, off + (tA ? K : M) * lda + 1, 1),
            B = randMatrix(r, off + (tB ? N : K) * ldb + 1, 1);
          const C0 = randMatrix(r, off + M * ldc, 1);
          if (beta === 0) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C0[off + i * ldc + j] = NaN;
          const want = C0.slice(),
            got = C0.slice();
          dgemmRef(tA, tB, M, N, K, alpha, A, off, Math.max(1, lda), B, off, Math.max(1, ldb), beta, want, off, ldc);
          dgemm(tA, tB, M, N, K, alpha, A, off, Math.max(1, lda), B, off, Math.max(1, ldb), beta, got, off, ldc);
          assert.ok(
            relErr(got, want) < 1e-13,
            `${gemmBackend()} M=${M} N=${N} K=${K} tA=${tA} tB=${tB} alpha=${alpha} beta=${beta}`,
          );
        }
      }
});

test('the native exp kernel serves softmax rows exactly when the native backend is active', () => {
  assert.is(st.exp, st.active);
  assert.is(vexpBackend() === 'native', st.active);
});

const noNative = st.active ? undefined : `native BLAS backend not active (${st.reason})`;
testIf(test, 'native exp: bitwise the WebAssembly exp on a dense sweep, in place and not, same sums', noNative, () => {
  assert.ok(st.exp, 'the addon exp passed its load-time probe');
  assert.is(vexpBackend(), 'native');
  const r = rng(11);
  const n = 200_003; // crosses the 32768-element summation chunks, odd length
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = -746 + (1456 * i) / n + (r() - 0.5) * 1e-3; // [−746, 710]
  x[5] = NaN;
  x[6] = -Infinity;
  x[7] = Infinity;
  x[8] = -0;
  const run = () => {
    const out = new Float64Array(n),
      inplace = x.slice(),
      e = new Float64Array(n);
    const s = expShiftSum(n - 9, x, 9, 0.125, out, 3); // out of place, offsets
    const t = expShiftSum(n - 9, inplace, 9, 0.125, inplace, 9); // in place
    vexp(x, 0, n, e, 0);
    return { s, t, out, inplace, e };
  };
  const nat = run();
  setExpKernel(null); // the WebAssembly kernel from here on in this process
  assert.is(vexpBackend(), 'wasm-simd');
  const wasm = run();
  assert.ok(Object.is(nat.s, wasm.s) && Object.is(nat.t, wasm.t), `sums ${nat.s} vs ${wasm.s}`);
  for (let i = 0; i < n; i++) {
    if (
      !Object.is(nat.out[i], wasm.out[i]) ||
      !Object.is(nat.inplace[i], wasm.inplace[i]) ||
      !Object.is(nat.e[i], wasm.e[i])
    ) {
      assert.unreachable(`i=${i} x=${x[i]}: native ${nat.e[i]} vs wasm ${wasm.e[i]} (scalar ${vexpScalar(x[i]!)})`);
    }
  }
});

test('ATTNFIT_NATIVE=0 keeps the WebAssembly backend (FMA variant: the loader enabled relaxed SIMD)', () => {
  const cwd = fileURLToPath(new URL('.', import.meta.url));
  const probe =
    "const n = await import('@attnfit/shared/native'); const k = await import('@attnfit/shared/kernels');" +
    ' process.stdout.write(JSON.stringify({ s: n.nativeBlasStatus(), g: k.gemmBackendDetail() }))';
  const env: NodeJS.ProcessEnv = { ...process.env, ATTNFIT_NATIVE: '0' };
  delete env.ATTNFIT_GEMM;
  delete env.ATTNFIT_WASM_FMA;
  const out = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd, env, encoding: 'utf8' }),
  );
  assert.is(out.s.loaded, false);
  assert.is(out.s.active, false);
  assert.match(out.s.reason, /ATTNFIT_NATIVE=0/);
  assert.is(out.g, 'wasm-simd (f64x2 FMA)');
});

test.run();
