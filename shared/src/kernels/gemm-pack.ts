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
  transA: boolean,
  A: Float64Array,
  offA: number,
  lda: number,
  i0: number,
  p0: number,
  mc: number,
  kc: number,
  mcPad: number,
  dst: Float64Array,
  dOff: number,
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
  transB: boolean,
  B: Float64Array,
  offB: number,
  ldb: number,
  p0: number,
  j0: number,
  kc: number,
  nc: number,
  nr: number,
  alpha: number,
  dst: Float64Array,
  dOff: number,
): void {
  for (let jr = 0; jr < nc; jr += nr) {
    const cols = Math.min(nr, nc - jr);
    const base = dOff + jr * kc;
    if (cols === 8 && nr === 8) {
      packB8(transB, B, offB, ldb, p0, j0 + jr, kc, alpha, dst, base);
      continue;
    }
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

/**
 * One full 8-column micro-panel of packB, unrolled (the WebAssembly kernel's NR = 8): the generic
 * loop spends most of its time on loop control for 8-element rows. Same values as packB.
 */
function packB8(
  transB: boolean,
  B: Float64Array,
  offB: number,
  ldb: number,
  p0: number,
  j0: number,
  kc: number,
  alpha: number,
  dst: Float64Array,
  base: number,
): void {
  if (!transB) {
    let src = offB + p0 * ldb + j0,
      d = base;
    if (alpha === 1) {
      for (let k = 0; k < kc; k++, src += ldb, d += 8) {
        dst[d] = B[src]!;
        dst[d + 1] = B[src + 1]!;
        dst[d + 2] = B[src + 2]!;
        dst[d + 3] = B[src + 3]!;
        dst[d + 4] = B[src + 4]!;
        dst[d + 5] = B[src + 5]!;
        dst[d + 6] = B[src + 6]!;
        dst[d + 7] = B[src + 7]!;
      }
    } else {
      for (let k = 0; k < kc; k++, src += ldb, d += 8) {
        dst[d] = alpha * B[src]!;
        dst[d + 1] = alpha * B[src + 1]!;
        dst[d + 2] = alpha * B[src + 2]!;
        dst[d + 3] = alpha * B[src + 3]!;
        dst[d + 4] = alpha * B[src + 4]!;
        dst[d + 5] = alpha * B[src + 5]!;
        dst[d + 6] = alpha * B[src + 6]!;
        dst[d + 7] = alpha * B[src + 7]!;
      }
    }
  } else {
    // op(B)[k, j] = B[(j0 + j)·ldb + p0 + k]: eight source rows read in step, writes contiguous.
    const r0 = offB + j0 * ldb + p0;
    const r1 = r0 + ldb,
      r2 = r1 + ldb,
      r3 = r2 + ldb,
      r4 = r3 + ldb,
      r5 = r4 + ldb,
      r6 = r5 + ldb,
      r7 = r6 + ldb;
    let d = base;
    if (alpha === 1) {
      for (let k = 0; k < kc; k++, d += 8) {
        dst[d] = B[r0 + k]!;
        dst[d + 1] = B[r1 + k]!;
        dst[d + 2] = B[r2 + k]!;
        dst[d + 3] = B[r3 + k]!;
        dst[d + 4] = B[r4 + k]!;
        dst[d + 5] = B[r5 + k]!;
        dst[d + 6] = B[r6 + k]!;
        dst[d + 7] = B[r7 + k]!;
      }
    } else {
      for (let k = 0; k < kc; k++, d += 8) {
        dst[d] = alpha * B[r0 + k]!;
        dst[d + 1] = alpha * B[r1 + k]!;
        dst[d + 2] = alpha * B[r2 + k]!;
        dst[d + 3] = alpha * B[r3 + k]!;
        dst[d + 4] = alpha * B[r4 + k]!;
        dst[d + 5] = alpha * B[r5 + k]!;
        dst[d + 6] = alpha * B[r6 + k]!;
        dst[d + 7] = alpha * B[r7 + k]!;
      }
    }
  }
}
