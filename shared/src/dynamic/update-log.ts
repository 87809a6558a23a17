/**
 * The pending update log of the dynamic structure: one entry (kind, key row, column, δ) per
 * changed entry of K or V since the snapshot, and the distinct key rows it touches ("slots",
 * with a flag when the key's K row changed — otherwise only its V row did). Appending is O(1)
 * amortised; queries walk the entries, rebuilds gather the slots.
 */

/** Entry kinds. */
export const KIND_K = 0;
export const KIND_V = 1;

/** Bytes per log entry of capacity, scratch included (for stats). */
export const LOG_BYTES_PER_ENTRY = 1 + 4 + 4 + 8 + 4 + 1 + 24;

/** Growable log of K/V entry updates and the key rows they touch. */
export class UpdateLog {
  kind: Uint8Array;
  row: Int32Array;
  col: Int32Array;
  delta: Float64Array;
  /** Entries in the log. */
  length = 0;
  /** Slot of each key row (−1: untouched). */
  readonly slotOf: Int32Array;
  /** Key row of each slot. */
  slotKeys: Int32Array;
  /** 1 when the slot's K row changed. */
  slotK: Uint8Array;
  /** Distinct touched key rows. */
  slots = 0;

  /** A log for n key rows with room for `cap` entries (grows by doubling). */
  constructor(n: number, cap: number) {
    this.kind = new Uint8Array(cap);
    this.row = new Int32Array(cap);
    this.col = new Int32Array(cap);
    this.delta = new Float64Array(cap);
    this.slotOf = new Int32Array(n).fill(-1);
    this.slotKeys = new Int32Array(cap);
    this.slotK = new Uint8Array(cap);
  }

  /** Entries (and slots) the log holds before it grows. */
  get capacity(): number {
    return this.kind.length;
  }

  /** Append one entry. */
  push(kind: number, r: number, c: number, delta: number): void {
    if (this.length === this.kind.length || this.slots === this.slotKeys.length) this.grow();
    const k = this.length++;
    this.kind[k] = kind;
    this.row[k] = r;
    this.col[k] = c;
    this.delta[k] = delta;
    this.touch(kind, r);
  }

  /** Drop the first `count` entries (covered by a finished background rebuild); re-derive the slots. */
  dropPrefix(count: number): void {
    const rest = this.length - count;
    this.kind.copyWithin(0, count, this.length);
    this.row.copyWithin(0, count, this.length);
    this.col.copyWithin(0, count, this.length);
    this.delta.copyWithin(0, count, this.length);
    this.length = rest;
    this.clearSlots();
    for (let k = 0; k < rest; k++) this.touch(this.kind[k]!, this.row[k]!);
  }

  /** Empty the log. */
  clear(): void {
    this.clearSlots();
    this.length = 0;
  }

  private clearSlots(): void {
    for (let s = 0; s < this.slots; s++) this.slotOf[this.slotKeys[s]!] = -1;
    this.slots = 0;
  }

  private touch(kind: number, r: number): void {
    let s = this.slotOf[r]!;
    if (s < 0) {
      s = this.slots++;
      this.slotOf[r] = s;
      this.slotKeys[s] = r;
      this.slotK[s] = 0;
    }
    if (kind === KIND_K) this.slotK[s] = 1;
  }

  private grow(): void {
    const cap = this.kind.length * 2;
    const g8 = (a: Uint8Array) => {
      const b = new Uint8Array(cap);
      b.set(a);
      return b;
    };
    const g32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const g64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.kind = g8(this.kind);
    this.row = g32(this.row);
    this.col = g32(this.col);
    this.delta = g64(this.delta);
    this.slotKeys = g32(this.slotKeys);
    this.slotK = g8(this.slotK);
  }
}
