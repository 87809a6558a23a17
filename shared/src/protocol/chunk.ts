/**
 * Chunking of messages larger than the server's max_payload (default 1 MiB). A sender splits
 * the encoded bytes into `chunk` frames; a {@link Reassembler} joins them back by correlation id.
 */
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';
import { decodeMessage, encode } from './codec.js';
import { PROTOCOL_VERSION, type ChunkMsg } from './types.js';

/** Default NATS max_payload in bytes. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Bytes reserved per frame for the chunk envelope and headers. */
export const CHUNK_OVERHEAD = 1024;

/**
 * Frames to publish for `bytes`: `[bytes]` itself when it fits in `maxPayload`, else encoded
 * `chunk` messages each ≤ maxPayload bytes.
 * @param maxPayload server max_payload in bytes (nc.info.max_payload)
 */
export function toFrames(id: string, bytes: Uint8Array, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array[] {
  if (bytes.length <= maxPayload) return [bytes];
  const room = maxPayload - CHUNK_OVERHEAD;
  if (room < 1024) throw new AttnfitError(ErrorCodes.BAD_OPTION, `maxPayload: too small to chunk (got ${maxPayload})`);
  const total = Math.ceil(bytes.length / room);
  const frames: Uint8Array[] = [];
  for (let seq = 0; seq < total; seq++) {
    const msg: ChunkMsg = {
      v: PROTOCOL_VERSION,
      kind: 'chunk',
      id,
      seq,
      total,
      data: bytes.subarray(seq * room, Math.min(bytes.length, (seq + 1) * room)),
    };
    frames.push(encode(msg));
  }
  return frames;
}

/**
 * Most frames one chunked message may claim: 2^22 frames of ≥ 1 KiB is ≥ 4 GiB, beyond any
 * legitimate reply (a d = 128 Hessian partial is 2 GiB). A larger `total` is refused before
 * anything is buffered.
 */
export const MAX_CHUNKS = 1 << 22;
/** Ids of completed messages remembered, so late duplicate chunks are dropped instead of buffered. */
const RECENT_IDS = 1024;

/**
 * Joins chunk frames; whole messages pass straight through. Memory is proportional to the chunk
 * bytes actually received (never to a claimed `total`); chunks of a message already completed are
 * ignored (the last {@link RECENT_IDS} ids are remembered).
 */
export class Reassembler {
  private readonly parts = new Map<string, { total: number; data: Map<number, Uint8Array> }>();
  private readonly done = new Set<string>();

  /**
   * Feed one received frame. Returns the complete message bytes when `frame` is a whole message
   * or completes a chunked one; `undefined` while parts are missing. Duplicate chunks are ignored.
   * Throws AttnfitError(PROTOCOL) for a malformed chunk frame (bad fields, `total` over
   * {@link MAX_CHUNKS}, a `total` that differs from earlier chunks of the same id).
   */
  push(frame: Uint8Array): Uint8Array | undefined {
    if (!isChunkFrame(frame)) return frame;
    const c = decodeMessage(frame, 'chunk');
    if (c.total > MAX_CHUNKS)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `malformed chunk message: total ${c.total} exceeds ${MAX_CHUNKS} frames`,
        { details: { field: 'total' } },
      );
    if (this.done.has(c.id)) return undefined;
    let e = this.parts.get(c.id);
    if (!e) {
      e = { total: c.total, data: new Map() };
      this.parts.set(c.id, e);
    }
    if (e.total !== c.total)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `malformed chunk message: total ${c.total} differs from ${e.total} for id ${JSON.stringify(c.id.slice(0, 80))}`,
      );
    if (!e.data.has(c.seq)) e.data.set(c.seq, c.data);
    if (e.data.size < e.total) return undefined;
    this.parts.delete(c.id);
    this.done.add(c.id);
    if (this.done.size > RECENT_IDS) this.done.delete(this.done.values().next().value!);
    let len = 0;
    for (const p of e.data.values()) len += p.length;
    const out = new Uint8Array(len);
    let off = 0;
    for (let seq = 0; seq < e.total; seq++) {
      const p = e.data.get(seq)!;
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /** Forget partial data of one id (after a timeout). */
  drop(id: string): void {
    this.parts.delete(id);
  }

  /** Number of ids with missing parts. */
  get pending(): number {
    return this.parts.size;
  }
}

// A chunk frame is a msgpack map whose `kind` is "chunk"; checking the bytes for the encoded
// key/value pair avoids decoding big whole messages twice.
const KIND_CHUNK = Uint8Array.from([...encode('kind'), ...encode('chunk')]);
function isChunkFrame(b: Uint8Array): boolean {
  const n = Math.min(b.length, 64) - KIND_CHUNK.length;
  outer: for (let i = 0; i <= n; i++) {
    for (let j = 0; j < KIND_CHUNK.length; j++) if (b[i + j] !== KIND_CHUNK[j]) continue outer;
    return true;
  }
  return false;
}
