/*
 * attnfit optional native GEMM: a tiny N-API addon that forwards row-major dgemm to the system
 * CBLAS (Debian: libopenblas-dev). Opt-in: built only by `npm run build:native` (build.mjs);
 * loaded by index.js when present, never required.
 *
 * dgemm(transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc)
 *   C[offC..] = alpha·op(A)·op(B) + beta·C, row-major, Float64Array operands, offsets in
 *   elements. Arguments are trusted (the JS side validates / the checked dgemm did).
 * info() → the BLAS configuration string.
 * OpenBLAS is set to one thread per call: attnfit parallelises over row blocks itself.
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stddef.h>

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
  CHECK(napi_create_function(env, "info", NAPI_AUTO_LENGTH, Info, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "info", fn));
  return exports;
}
