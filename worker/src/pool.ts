/**
 * The worker package's block pool: the shared runtime's {@link BlockPool} over this package's own
 * compiled thread entry (./thread.js).
 */
import { fileURLToPath } from 'node:url';
import { BlockPool } from '@attnfit/shared/runtime/pool';

/** Path of this package's compiled thread entry. */
export function threadEntryPath(): string {
  return fileURLToPath(new URL('./thread.js', import.meta.url));
}

/** A {@link BlockPool} of `threads` threads running ./thread.js. */
export function createBlockPool(threads: number, opts: { shared?: boolean } = {}): BlockPool {
  return new BlockPool(threads, { ...opts, filename: threadEntryPath() });
}
