/** Plain brute-force reference for the dynamic attention tests: stable softmax(Q Kᵀ) V. */

/** Entry (softmax(Q Kᵀ) V)[i, j], written plainly: logits, subtract the row max, exp, weighted sum. */
export function bruteEntry(
  Q: Float64Array,
  K: Float64Array,
  V: Float64Array,
  n: number,
  d: number,
  i: number,
  j: number,
): number {
  const z = new Array<number>(n);
  let mx = -Infinity;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += Q[i * d + c]! * K[r * d + c]!;
    z[r] = s;
    if (s > mx) mx = s;
  }
  let den = 0,
    num = 0;
  for (let r = 0; r < n; r++) {
    const e = Math.exp(z[r]! - mx);
    den += e;
    num += e * V[r * d + j]!;
  }
  return num / den;
}

/** Row i of softmax(Q Kᵀ) V. */
export function bruteRow(Q: Float64Array, K: Float64Array, V: Float64Array, n: number, d: number, i: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < d; j++) out.push(bruteEntry(Q, K, V, n, d, i, j));
  return out;
}

/** Output scale for error checks: max(1, max |V|). */
export function outScale(V: Float64Array): number {
  let s = 1;
  for (let k = 0; k < V.length; k++) s = Math.max(s, Math.abs(V[k]!));
  return s;
}
