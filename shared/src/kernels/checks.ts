/**
 * Argument checks shared by the checked kernel entries (softmax, factorizations, solves).
 * Each error is a RangeError whose message names the kernel, the argument and the value.
 */

/** Throw unless `v` is an integer ≥ `min`. */
export function checkInt(fn: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${fn}: ${name} must be an integer >= ${min} (got ${v})`);
}

/** Throw unless a rows×cols row-major view at `off` with leading dimension `ld` fits in `arr`. */
export function checkMatrix(
  fn: string,
  name: string,
  arr: ArrayLike<number>,
  rows: number,
  cols: number,
  off: number,
  ld: number,
): void {
  checkInt(fn, `off${name}`, off, 0);
  if (!Number.isInteger(ld) || ld < Math.max(1, cols))
    throw new RangeError(`${fn}: ld${name} must be >= ${Math.max(1, cols)} (got ${ld})`);
  const need = rows === 0 || cols === 0 ? off : off + (rows - 1) * ld + cols;
  if (need > arr.length) throw new RangeError(`${fn}: ${name} too short (length ${arr.length}, needs ${need})`);
}

/** Throw unless every entry of the rows×cols view is finite (names the first bad entry). */
export function checkFinite(
  fn: string,
  name: string,
  arr: ArrayLike<number>,
  rows: number,
  cols: number,
  off: number,
  ld: number,
): void {
  for (let i = 0; i < rows; i++) {
    const r0 = off + i * ld;
    for (let j = 0; j < cols; j++) {
      const v = arr[r0 + j]!;
      if (!Number.isFinite(v)) throw new RangeError(`${fn}: ${name}[${i},${j}] must be finite (got ${v})`);
    }
  }
}
