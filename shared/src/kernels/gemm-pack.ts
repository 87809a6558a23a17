/**
 * GEMM packing (BLIS `packm`): copies a block of op(A) or op(B) into the contiguous micro-panel
 * layout the micro-kernel streams, zero-padding partial tiles so every tile is full size.
 * Pure functions over typed arrays; unchecked (the driver passes in-range arguments).
 */

/**
 * Packs alpha·op(A)[i0:i0+mc, p0:p0+kc] into `dst` as ceil(mc/mr) micro-panels of mr rows,
 * k-major: dst[dOff + ir·kc + k·mr + r] = alpha·op(A)[i0+ir+r, p0+k] (0 for rows ≥ mc).
 * op(A)[i,k] = transA ? A[offA + k·lda + i] : A[offA + i·lda + k].
 */
export function packA(
  transA: boolean, A: Float64Array, offA: number, lda: number, i0: number, p0: number,
  mc: number, kc: number, mr: number, alpha: number, dst: Float64Array, dOff: number,
): void {
  for (let ir = 0; ir < mc; ir += mr) {
    const rows = Math.min(mr, mc - ir);
    const base = dOff + ir * kc;
    if (!transA) {
      for (let r = 0; r < rows; r++) {
        const src = offA + (i0 + ir + r) * lda + p0;
        let d = base + r;
        for (let k = 0; k < kc; k++, d += mr) dst[d] = alpha * A[src + k]!;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const src = offA + (p0 + k) * lda + i0 + ir;
        const d = base + k * mr;
        for (let r = 0; r < rows; r++) dst[d + r] = alpha * A[src + r]!;
      }
    }
    if (rows < mr) for (let k = 0; k < kc; k++) for (let r = rows; r < mr; r++) dst[base + k * mr + r] = 0;
  }
}

/**
 * Packs op(B)[p0:p0+kc, j0:j0+nc] into `dst` as ceil(nc/nr) micro-panels of nr columns,
 * k-major: dst[dOff + jr·kc + k·nr + j] = op(B)[p0+k, j0+jr+j] (0 for columns ≥ nc).
 * op(B)[k,j] = transB ? B[offB + j·ldb + k] : B[offB + k·ldb + j].
 */
export function packB(
  transB: boolean, B: Float64Array, offB: number, ldb: number, p0: number, j0: number,
  kc: number, nc: number, nr: number, dst: Float64Array, dOff: number,
): void {
  for (let jr = 0; jr < nc; jr += nr) {
    const cols = Math.min(nr, nc - jr);
    const base = dOff + jr * kc;
    if (!transB) {
      for (let k = 0; k < kc; k++) {
        const src = offB + (p0 + k) * ldb + j0 + jr;
        const d = base + k * nr;
        for (let j = 0; j < cols; j++) dst[d + j] = B[src + j]!;
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const src = offB + (j0 + jr + j) * ldb + p0;
        let d = base + j;
        for (let k = 0; k < kc; k++, d += nr) dst[d] = B[src + k]!;
      }
    }
    if (cols < nr) for (let k = 0; k < kc; k++) for (let j = cols; j < nr; j++) dst[base + k * nr + j] = 0;
  }
}
