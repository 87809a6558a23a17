/**
 * GEMM packing (BLIS `packm`): copies a block of op(A) or op(B) into the contiguous layout the
 * micro-kernel streams, zero-padding partial tiles so every tile is full size.
 * Pure functions over typed arrays; unchecked (the driver passes in-range arguments).
 */

/**
 * Copies op(A)[i0:i0+mc, p0:p0+kc] into `dst` as a row-major block with leading dimension kc:
 * dst[dOff + i·kc + k] = op(A)[i0+i, p0+k], and zero rows for mc ≤ i < mcPad (mcPad = mc rounded
 * up to the micro-kernel's MR). The micro-kernel streams its MR rows sequentially in k, so a
 * contiguous row block is as cache-friendly as BLIS's k-major micro-panels, and for the common
 * non-transposed case each row is one memcpy (TypedArray.set) instead of an element loop.
 * op(A)[i,k] = transA ? A[offA + k·lda + i] : A[offA + i·lda + k].
 */
export function packA(
  transA: boolean, A: Float64Array, offA: number, lda: number, i0: number, p0: number,
  mc: number, kc: number, mcPad: number, dst: Float64Array, dOff: number,
): void {
  if (!transA) {
    for (let i = 0; i < mc; i++) {
      const src = offA + (i0 + i) * lda + p0;
      dst.set(A.subarray(src, src + kc), dOff + i * kc); // measured faster than an element loop
    }
  } else {
    for (let k = 0; k < kc; k++) {
      const src = offA + (p0 + k) * lda + i0;
      let d = dOff + k;
      for (let i = 0; i < mc; i++, d += kc) dst[d] = A[src + i]!;
    }
  }
  if (mcPad > mc) dst.fill(0, dOff + mc * kc, dOff + mcPad * kc);
}

/**
 * Packs alpha·op(B)[p0:p0+kc, j0:j0+nc] into `dst` as ceil(nc/nr) micro-panels of nr columns,
 * k-major: dst[dOff + jr·kc + k·nr + j] = alpha·op(B)[p0+k, j0+jr+j] (0 for columns ≥ nc).
 * alpha is applied here because B̃ is the operand the driver packs element by element anyway.
 * op(B)[k,j] = transB ? B[offB + j·ldb + k] : B[offB + k·ldb + j].
 */
export function packB(
  transB: boolean, B: Float64Array, offB: number, ldb: number, p0: number, j0: number,
  kc: number, nc: number, nr: number, alpha: number, dst: Float64Array, dOff: number,
): void {
  for (let jr = 0; jr < nc; jr += nr) {
    const cols = Math.min(nr, nc - jr);
    const base = dOff + jr * kc;
    if (!transB) {
      for (let k = 0; k < kc; k++) {
        const src = offB + (p0 + k) * ldb + j0 + jr;
        const d = base + k * nr;
        for (let j = 0; j < cols; j++) dst[d + j] = alpha * B[src + j]!;
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const src = offB + (j0 + jr + j) * ldb + p0;
        let d = base + j;
        for (let k = 0; k < kc; k++, d += nr) dst[d] = alpha * B[src + k]!;
      }
    }
    if (cols < nr) for (let k = 0; k < kc; k++) for (let j = cols; j < nr; j++) dst[base + k * nr + j] = 0;
  }
}
