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
    const msg: ChunkMsg = { v: PROTOCOL_VERSION, kind: 'chunk', id, seq, total, data: bytes.subarray(seq * room, Math.min(bytes.length, (seq + 1) * room)) };
    frames.push(encode(msg));
  }
  return frames;
}

/** Joins chunk frames; whole messages pass straight through. */
export class Reassembler {
  private readonly parts = new Map<string, { total: number; got: number; data: (Uint8Array | undefined)[] }>();

  /**
   * Feed one received frame. Returns the complete message bytes when `frame` is a whole message
   * or completes a chunked one; `undefined` while parts are missing. Duplicate chunks are ignored.
   * Throws AttnfitError(PROTOCOL) for a malformed chunk frame.
   */
  push(frame: Uint8Array): Uint8Array | undefined {
    if (!isChunkFrame(frame)) return frame;
    const c = decodeMessage(frame, 'chunk');
    let e = this.parts.get(c.id);
    if (!e) {
      e = { total: c.total, got: 0, data: new Array<Uint8Array | undefined>(c.total) };
      this.parts.set(c.id, e);
    }
    if (e.total !== c.total) throw new AttnfitError(ErrorCodes.PROTOCOL, `malformed chunk message: total ${c.total} differs from ${e.total} for id ${c.id}`);
    if (e.data[c.seq] === undefined) {
      e.data[c.seq] = c.data;
      e.got++;
    }
    if (e.got < e.total) return undefined;
    this.parts.delete(c.id);
    let len = 0;
    for (const p of e.data) len += p!.length;
    const out = new Uint8Array(len);
    let off = 0;
    for (const p of e.data) { out.set(p!, off); off += p!.length; }
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
