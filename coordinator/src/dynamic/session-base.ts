/**
 * Shared method table of the remote dynamic sessions: every method becomes one `call(method,
 * args)` round trip; replies are unwrapped here (wire errors → AttnfitError via wireToError).
 */
import { wireToError } from '@attnfit/shared/core';
import type { DynamicOp, DynamicStats } from '@attnfit/shared/dynamic';
import type { DynamicReply, DynamicSession } from './types.js';

/** Unwrap a host reply: the value, or throw the decoded AttnfitError. */
export function unwrapReply(reply: DynamicReply): unknown {
  if (reply && reply.ok === true) return reply.value;
  if (reply && reply.ok === false) throw wireToError(reply.error);
  throw new Error(`malformed dynamic session reply: ${JSON.stringify(reply)}`);
}

export abstract class RemoteDynamicSession implements DynamicSession {
  /** One remote method call; resolves to the reply (never throws for remote errors). */
  protected abstract send(method: string, args: unknown[]): Promise<DynamicReply>;
  /** One batch of ops. */
  protected abstract sendApply(ops: readonly DynamicOp[]): Promise<DynamicReply>;
  abstract close(): Promise<void>;

  private async call(method: string, args: unknown[]): Promise<unknown> {
    return unwrapReply(await this.send(method, args));
  }

  async updateK(r: number, c: number, delta: number): Promise<void> {
    await this.call('updateK', [r, c, delta]);
  }
  async updateV(r: number, c: number, delta: number): Promise<void> {
    await this.call('updateV', [r, c, delta]);
  }
  async setK(r: number, c: number, x: number): Promise<void> {
    await this.call('setK', [r, c, x]);
  }
  async setV(r: number, c: number, x: number): Promise<void> {
    await this.call('setV', [r, c, x]);
  }
  async updateKRow(r: number, deltaRow: ArrayLike<number>): Promise<void> {
    await this.call('updateKRow', [r, Array.from(deltaRow)]);
  }
  async updateVRow(r: number, deltaRow: ArrayLike<number>): Promise<void> {
    await this.call('updateVRow', [r, Array.from(deltaRow)]);
  }
  async query(i: number, j: number): Promise<number> {
    return (await this.call('query', [i, j])) as number;
  }
  async queryRow(i: number): Promise<Float64Array> {
    return (await this.call('queryRow', [i])) as Float64Array;
  }
  async rebuild(opts: { full?: boolean } = {}): Promise<void> {
    await this.call('rebuild', [{ full: !!opts.full }]);
  }
  async stats(): Promise<DynamicStats> {
    return (await this.call('stats', [])) as DynamicStats;
  }
  async apply(ops: readonly DynamicOp[]): Promise<Array<number | Float64Array>> {
    return unwrapReply(await this.sendApply(ops)) as Array<number | Float64Array>;
  }
}
