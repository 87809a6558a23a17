/*
 * attnfit optional native GEMM: a tiny N-API addon that forwards row-major dgemm to the system
 * CBLAS (Debian: libopenblas-dev). Opt-in: built only by `npm run build:native` (build.mjs);
 * loaded by index.js when present, never required.
 *
 * dgemm(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc)
 *   C[offC..] = alpha·op(A)·op(B) + beta·C, row-major, Float64Array operands, offsets in
 *   elements. Arguments are trusted (the JS side validates / the checked dgemm did).
 * expShiftSum(n, x, off, shift, out, offOut) → Σ out: out[offOut+j] = exp(x[off+j] − shift), the
 *   same IEEE operations in the same order as the kernels' vexpScalar / vexp.wat (fdlibm's exp,
 *   see shared/src/kernels/vexp.ts), so results are bitwise identical to the WebAssembly and JS
 *   paths, and the same two-lane, 32768-element-chunk summation order. Compiled without FMA
 *   contraction (-ffp-contract=off) and auto-vectorised for the best of AVX-512 / AVX2 / SSE2
 *   that the CPU has (GCC target_clones), so it runs in place on the caller's array: no copies.
 * info() → the BLAS configuration string.
 * OpenBLAS is set to one thread per call: attnfit parallelises over row blocks itself.
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <math.h>

extern void openblas_set_num_threads(int);
extern char *openblas_get_config(void);

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "attnfit_blas: N-API call failed: " #call); return NULL; } } while (0)

static double *f64(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type t; void *data; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, &data, &ab, &off) != napi_ok || t != napi_float64_array) return NULL;
  return (double *)data;
}

static napi_value Dgemm(napi_env env, napi_callback_info info) {
  size_t argc = 16; napi_value a[16];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 16) { napi_throw_type_error(env, NULL, "attnfit_blas.dgemm: expected 16 arguments"); return NULL; }
  bool ta, tb; int32_t M, N, K, offA, lda, offB, ldb, offC, ldc; double alpha, beta; size_t la, lb, lc;
  CHECK(napi_get_value_bool(env, a[0], &ta)); CHECK(napi_get_value_bool(env, a[1], &tb));
  CHECK(napi_get_value_int32(env, a[2], &M)); CHECK(napi_get_value_int32(env, a[3], &N)); CHECK(napi_get_value_int32(env, a[4], &K));
  CHECK(napi_get_value_double(env, a[5], &alpha));
  CHECK(napi_get_value_int32(env, a[7], &offA)); CHECK(napi_get_value_int32(env, a[8], &lda));
  CHECK(napi_get_value_int32(env, a[10], &offB)); CHECK(napi_get_value_int32(env, a[11], &ldb));
  CHECK(napi_get_value_double(env, a[12], &beta));
  CHECK(napi_get_value_int32(env, a[14], &offC)); CHECK(napi_get_value_int32(env, a[15], &ldc));
  double *A = f64(env, a[6], &la), *B = f64(env, a[9], &lb), *C = f64(env, a[13], &lc);
  if (!A || !B || !C) { napi_throw_type_error(env, NULL, "attnfit_blas.dgemm: A, B, C must be Float64Arrays"); return NULL; }
  if (M > 0 && N > 0) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A + offA, lda, B + offB, ldb, beta, C + offC, ldc);
  }
  return NULL;
}

/* fdlibm exp constants (identical to vexp.ts / vexp.wat). */
#define INVLN2 1.44269504088896338700e+00
#define LN2HI 6.93147180369123816490e-01
#define LN2LO 1.90821492927058770002e-10
#define P1 1.66666666666666019037e-01
#define P2 -2.77777777770155933842e-03
#define P3 6.61375632143793436117e-05
#define P4 -1.65339022054652515390e-06
#define P5 4.13813679705723846039e-08
#define MAGIC 6755399441055744.0 /* 1.5·2^52 */
#define EXP_CHUNK 32768

/* 2^k for an integer-valued k in [−538, 512], from the low mantissa bits of k + 1.5·2^52 (as vexp.wat). */
static inline double pow2i(double k) {
  double t = k + MAGIC; uint64_t b; memcpy(&b, &t, 8);
  b = (b + 1023u) << 52; double r; memcpy(&r, &b, 8); return r;
}

/* exp(v) exactly as vexpScalar (NaN → NaN; the clamps change no finite result). */
static inline double exp1(double v) {
  double xc = v < 709.8 ? v : 709.8;
  xc = xc > -746.0 ? xc : -746.0;
  double k = (xc * INVLN2 + MAGIC) - MAGIC;
  double hi = xc - k * LN2HI, lo = k * LN2LO, r = hi - lo, t = r * r;
  double c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
  double k1 = floor(k * 0.5), k2 = k - k1;
  double e = (y * pow2i(k1)) * pow2i(k2);
  return v == v ? e : v;
}

/* One vectorisable loop each for in place and out of place (no aliasing question for the compiler). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BEST_ISA __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BEST_ISA
#endif
BEST_ISA static void exp_shift_inplace(double *p, size_t n, double shift) {
  for (size_t j = 0; j < n; j++) p[j] = exp1(p[j] - shift);
}
BEST_ISA static void exp_shift(const double *restrict x, double *restrict out, size_t n, double shift) {
  for (size_t j = 0; j < n; j++) out[j] = exp1(x[j] - shift);
}

/* The kernels' summation order: per chunk of EXP_CHUNK, even/odd lanes, lanes added, odd tail last. */
static double sum_chunked(const double *e, size_t n) {
  double sum = 0;
  for (size_t s = 0; s < n; s += EXP_CHUNK) {
    size_t end = n - s < EXP_CHUNK ? n : s + EXP_CHUNK, j = s;
    double s0 = 0, s1 = 0;
    for (; j + 1 < end; j += 2) { s0 += e[j]; s1 += e[j + 1]; }
    double cs = s0 + s1;
    if (j < end) cs += e[j];
    sum += cs;
  }
  return sum;
}

static napi_value ExpShiftSum(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value a[6];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 6) { napi_throw_type_error(env, NULL, "attnfit_blas.expShiftSum: expected 6 arguments"); return NULL; }
  int32_t n, off, offOut; double shift; size_t lx, lo;
  CHECK(napi_get_value_int32(env, a[0], &n)); CHECK(napi_get_value_int32(env, a[2], &off));
  CHECK(napi_get_value_double(env, a[3], &shift)); CHECK(napi_get_value_int32(env, a[5], &offOut));
  double *x = f64(env, a[1], &lx), *o = f64(env, a[4], &lo);
  if (!x || !o) { napi_throw_type_error(env, NULL, "attnfit_blas.expShiftSum: x and out must be Float64Arrays"); return NULL; }
  double sum = 0;
  if (n > 0) {
    if (x + off == o + offOut) exp_shift_inplace(o + offOut, (size_t)n, shift);
    else exp_shift(x + off, o + offOut, (size_t)n, shift); /* the caller guarantees no other overlap */
    sum = sum_chunked(o + offOut, (size_t)n);
  }
  napi_value r;
  CHECK(napi_create_double(env, sum, &r));
  return r;
}

static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value s;
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &s));
  return s;
}

NAPI_MODULE_INIT() {
  openblas_set_num_threads(1);
  napi_value fn;
  CHECK(napi_create_function(env, "dgemm", NAPI_AUTO_LENGTH, Dgemm, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "dgemm", fn));
  CHECK(napi_create_function(env, "expShiftSum", NAPI_AUTO_LENGTH, ExpShiftSum, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "expShiftSum", fn));
  CHECK(napi_create_function(env, "info", NAPI_AUTO_LENGTH, Info, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "info", fn));
  return exports;
}
