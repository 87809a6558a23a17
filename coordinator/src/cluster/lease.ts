/**
 * One coordinator per cluster: a lease in the job KV bucket (key {@link LEASE_KEY}). The holder
 * renews it every `renewMs` with a compare-and-set on the entry's revision; a coordinator that
 * starts while another renews its lease is refused (`CONFLICT`, naming the holder) instead of
 * resuming — and so running twice — the same jobs. A holder that stops cleanly deletes the lease,
 * so the next coordinator starts at once; a holder that died (SIGKILL, lost machine) stops
 * renewing, and a newcomer that sees no renewal for `ttlMs` takes the lease over by the same
 * compare-and-set (two newcomers cannot both win). Expiry is judged by the newcomer's own clock
 * from revisions it observed, never by comparing clocks of different machines.
 *
 * A holder that finds its lease taken (it was frozen or cut off for longer than `ttlMs` and a
 * newcomer took over) is told through `onLost` and must stop: its jobs stay `running` for the new
 * holder. Until it notices (at most one renewal period after it wakes) it may still write a
 * checkpoint of a job the new holder also runs; both compute the same deterministic iterates, so
 * results stay bitwise identical.
 */
import { randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { AttnfitError, ErrorCodes } from '@attnfit/shared/core';

/** KV key of the coordinator lease (next to `job.<id>` and `ckpt.<id>`). */
export const LEASE_KEY = 'coordinator.lease';

/** Lease timing (ms): renewal period, and how long a newcomer waits without seeing a renewal. */
export const LEASE_DEFAULTS = Object.freeze({ renewMs: 1000, ttlMs: 5000, pollMs: 250 });

/** What the lease entry says (JSON). */
export interface LeaseValue {
  holder: string;
  /** Unique per lease holder instance (two coordinators may share a name). */
  nonce: string;
  pid: number;
  renewMs: number;
  ttlMs: number;
  since: number;
}

export interface LeaseOptions {
  renewMs?: number;
  ttlMs?: number;
  log?: (line: string) => void;
  /** Called once when another coordinator has taken the lease over: stop. */
  onLost?: (holder: string) => void;
}

const te = new TextEncoder();
const td = new TextDecoder();

function parse(value: Uint8Array): LeaseValue | undefined {
  try {
    const v = JSON.parse(td.decode(value)) as LeaseValue;
    return typeof v?.holder === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function leaseValue(holder: string, nonce: string, o: { renewMs: number; ttlMs: number }): Uint8Array {
  const v: LeaseValue = { holder, nonce, pid: process.pid, renewMs: o.renewMs, ttlMs: o.ttlMs, since: Date.now() };
  return te.encode(JSON.stringify(v));
}

/** The current lease entry: revision and value, or undefined when there is none. */
async function current(kv: KV): Promise<{ revision: number; value: LeaseValue | undefined } | undefined> {
  const e = await kv.get(LEASE_KEY);
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
  return { revision: e.revision, value: parse(e.value) };
}

/** A held coordinator lease, renewed until released or lost. */
export class CoordinatorLease {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  /** The renewal in flight (release waits for it, so it deletes at the latest revision). */
  private inflight: Promise<void> | undefined;
  private lost = false;

  private constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly nonce: string,
    private revision: number,
    private readonly o: Required<Omit<LeaseOptions, 'onLost'>> & Pick<LeaseOptions, 'onLost'>,
  ) {
    this.timer = setInterval(() => {
      this.inflight = this.renew();
    }, o.renewMs);
    this.timer.unref();
  }

  /**
   * Take the lease for `holder`: at once when there is none, after `ttlMs` without a renewal
   * when its holder is gone; rejects `CONFLICT` naming the holder when it is renewed meanwhile.
   * @example const lease = await CoordinatorLease.acquire(store.kv, name, { onLost: () => stop() });
   */
  static async acquire(kv: KV, holder: string, opts: LeaseOptions = {}): Promise<CoordinatorLease> {
    const o = {
      renewMs: opts.renewMs ?? LEASE_DEFAULTS.renewMs,
      ttlMs: opts.ttlMs ?? LEASE_DEFAULTS.ttlMs,
      log: opts.log ?? (() => undefined),
      onLost: opts.onLost,
    };
    const nonce = randomUUID();
    const value = (): Uint8Array => leaseValue(holder, nonce, o);
    for (;;) {
      const seen = await current(kv);
      if (!seen) {
        try {
          return new CoordinatorLease(kv, holder, nonce, await kv.create(LEASE_KEY, value()), o);
        } catch {
          continue; // another coordinator created it first: look again
        }
      }
      const other = seen.value?.holder ?? 'unknown';
      o.log(
        `attnfit coordinator: the lease is held by ${other}: waiting up to ${o.ttlMs / 1000} s for it to be renewed or released`,
      );
      // Watch the revision for ttlMs (by this clock): any change means its holder is alive.
      const deadline = Date.now() + o.ttlMs;
      let now = seen;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, Math.min(LEASE_DEFAULTS.pollMs, o.ttlMs)));
        const e = await current(kv);
        if (!e) break; // released: take it
        if (e.revision !== now.revision) {
          throw new AttnfitError(
            ErrorCodes.CONFLICT,
            `another coordinator holds the cluster lease (${e.value?.holder ?? 'unknown'}, renewed every ${
              (e.value?.renewMs ?? o.renewMs) / 1000
            } s): only one coordinator may run per cluster; stop it first, or start this one when it is gone`,
            { details: { holder: e.value?.holder } },
          );
        }
        now = e;
      }
      if (Date.now() < deadline) continue; // released meanwhile
      try {
        const rev = await kv.update(LEASE_KEY, value(), now.revision);
        o.log(`attnfit coordinator: the lease of ${other} expired (no renewal for ${o.ttlMs / 1000} s): taken over`);
        return new CoordinatorLease(kv, holder, nonce, rev, o);
      } catch {
        continue; // someone renewed or took it at the last moment: look again
      }
    }
  }

  /** Renew once (compare-and-set on our last revision); detect a takeover. */
  private async renew(): Promise<void> {
    if (this.renewing || this.lost || !this.timer) return;
    this.renewing = true;
    try {
      this.revision = await this.kv.update(LEASE_KEY, leaseValue(this.holder, this.nonce, this.o), this.revision);
    } catch {
      // Disconnected (retry at the next tick), or the revision moved: someone else holds it now.
      const e = await current(this.kv).catch(() => null);
      if (e !== null && e?.value?.nonce !== this.nonce) {
        this.lost = true;
        this.stop();
        const by = e?.value?.holder ?? 'nobody (deleted)';
        this.o.log(`attnfit coordinator: the cluster lease was taken over by ${by}: stopping`);
        this.o.onLost?.(by);
      } else if (e) this.revision = e.revision; // our own write landed although the call failed
    } finally {
      this.renewing = false;
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop renewing and delete the lease (if still ours), so the next coordinator starts at once. */
  async release(): Promise<void> {
    this.stop();
    await this.inflight;
    if (this.lost) return;
    await this.kv.delete(LEASE_KEY, { previousSeq: this.revision }).catch(() => undefined);
  }
}
