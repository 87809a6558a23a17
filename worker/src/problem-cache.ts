/**
 * The worker's per-process cache of problems, keyed by content hash: each problem is loaded once
 * (concurrent tasks for it share the one load), kept while jobs use it, evicted least recently
 * used when the cached bytes exceed the bound, and dropped when the last job using it ends
 * (`job.done`). A failed load is forgotten so the next task retries it.
 */
import type { ProblemRef } from '@attnfit/shared/protocol';

interface Entry<T> {
  hash: string;
  bytes: number;
  /** Jobs that asked for this problem and have not ended. */
  jobs: Set<string>;
  value: Promise<T>;
  lastUsed: number;
}

/** Bytes a problem's four n×d float64 tensors take. */
export function problemBytes(ref: Pick<ProblemRef, 'n' | 'd'>): number {
  return 32 * ref.n * ref.d;
}

/**
 * LRU cache of loaded problems bounded by bytes (the most recent entry always stays, even when it
 * alone exceeds the bound).
 * @example const cache = new ProblemCache(2 ** 31, (ref) => load(ref)); const reg = await cache.get(ref, jobId);
 */
export class ProblemCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Monotonic use counter: a total order even for uses within the same millisecond. */
  private clock = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly load: (ref: ProblemRef) => Promise<T>,
  ) {}

  /** Problems held now (loaded or loading). */
  get size(): number {
    return this.entries.size;
  }

  /** The problem of `ref` for job `jobId`, loading it on first use. */
  get(ref: ProblemRef, jobId: string): Promise<T> {
    let e = this.entries.get(ref.hash);
    if (!e) {
      const value = this.load(ref);
      const entry: Entry<T> = {
        hash: ref.hash,
        bytes: problemBytes(ref),
        jobs: new Set(),
        value,
        lastUsed: ++this.clock,
      };
      this.entries.set(ref.hash, entry);
      value.catch(() => {
        if (this.entries.get(ref.hash) === entry) this.entries.delete(ref.hash);
      });
      e = entry;
      this.evict();
    }
    e.jobs.add(jobId);
    e.lastUsed = ++this.clock;
    return e.value;
  }

  /** Job `jobId` ended: drop its problem once no other job uses it. */
  jobDone(hash: string, jobId: string): void {
    const e = this.entries.get(hash);
    if (!e) return;
    e.jobs.delete(jobId);
    if (e.jobs.size === 0) this.entries.delete(hash);
  }

  /** Evict least recently used entries while over the byte bound (keeping at least one). */
  private evict(): void {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    const byAge = [...this.entries.values()].sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of byAge) {
      if (total <= this.maxBytes || this.entries.size <= 1) break;
      this.entries.delete(e.hash);
      total -= e.bytes;
    }
  }
}
