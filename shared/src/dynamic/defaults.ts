/**
 * Tunables of the dynamic attention structure, in one frozen object (units in the names).
 */
export const DYNAMIC_DEFAULTS = Object.freeze({
  /** Rebuild threshold exponent: the pending log is flushed after T = ⌈n^τ⌉ updates (a token-row edit counts as one). */
  tau: 0.5,
  /**
   * Largest allowed error estimate (relative to the output scale max|V|) of a stored row or of a
   * corrected query before the exact O(nd) fallback runs (docs/design.md §2.5). 1e-12 rather than
   * a looser ~1e-11 keeps observed errors ≤ 1e-12 with margin.
   */
  errTol: 1e-12,
  /**
   * `mode: 'auto'` keeps the n×n logits snapshot (8n² bytes) while it fits in this many bytes,
   * else switches to the O(nd) 'keys' mode. 256 MiB ⇒ snapshot up to n = 5792.
   */
  snapshotMaxBytes: 256 * 1024 * 1024,
  /** An incremental rebuild touching more than this fraction of the keys becomes a full rebuild. */
  fullRebuildFraction: 0.5,
  /** Scratch budget of one row block during (re)builds, in float64 elements (4 MiB). */
  blockElems: 1 << 19,
  /**
   * Most query rows per rebuild row block. Blocks are aligned to multiples of this (and of the
   * plan's `blockRows`) from row 0, so every block is computed by the same calls whatever the
   * split of rows across threads: sharded rebuilds are bitwise equal to single-thread ones.
   */
  rebuildBlockRows: 128,
  /**
   * Sessions shard their rebuilds across threads only when n ≥ this many rows (and more than one
   * rebuild thread is configured): below it the dispatch overhead exceeds the O(n·|R|·d) work.
   */
  shardMinRows: 2048,
});
