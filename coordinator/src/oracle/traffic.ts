/**
 * Per-iteration network traffic of a solve: the bytes an oracle sent (tasks) and received
 * (replies) between one iteration event and the next, for report.json and the progress stream.
 */
import type { Oracle, Traffic } from './types.js';

/** One iteration's traffic, keyed by start and iteration. */
export interface IterationTraffic extends Traffic {
  start: number;
  iteration: number;
}

/**
 * Records the oracle's traffic at each iteration event. With one start the bytes of an iteration
 * are exactly those of its evaluations; starts run side by side share the counter (each event
 * gets the bytes since the previous event of any start).
 * @example const log = new TrafficLog(oracle); … onIteration: (e) => { const t = log.mark(e.start, e.iteration); }
 */
export class TrafficLog {
  private last: Traffic;
  private readonly base: Traffic;
  private readonly byKey = new Map<string, IterationTraffic>();

  /** undefined when the oracle moves no bytes (local engine). */
  static for(oracle: Pick<Oracle, 'traffic'>): TrafficLog | undefined {
    return oracle.traffic ? new TrafficLog(() => oracle.traffic!()) : undefined;
  }

  constructor(private readonly read: () => Traffic) {
    this.base = { ...read() };
    this.last = { ...this.base };
  }

  /** The bytes since the previous mark (or since construction), recorded under (start, iteration). */
  mark(start: number, iteration: number): Traffic {
    const now = this.read();
    const t: IterationTraffic = {
      start,
      iteration,
      bytesSent: now.bytesSent - this.last.bytesSent,
      bytesReceived: now.bytesReceived - this.last.bytesReceived,
    };
    this.last = { ...now };
    this.byKey.set(`${start}:${iteration}`, t);
    return { bytesSent: t.bytesSent, bytesReceived: t.bytesReceived };
  }

  /** The traffic recorded for (start, iteration), if any. */
  get(start: number, iteration: number): Traffic | undefined {
    const t = this.byKey.get(`${start}:${iteration}`);
    return t && { bytesSent: t.bytesSent, bytesReceived: t.bytesReceived };
  }

  /** All bytes since construction (including evaluations after the last iteration event). */
  total(): Traffic {
    const now = this.read();
    return {
      bytesSent: now.bytesSent - this.base.bytesSent,
      bytesReceived: now.bytesReceived - this.base.bytesReceived,
    };
  }
}
