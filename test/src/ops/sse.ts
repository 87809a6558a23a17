/**
 * Follow the dashboard's server-sent events from a test: resolve with the first `state` snapshot
 * that satisfies a predicate (event-driven: the coordinator pushes on every change and every
 * second), or reject after timeoutMs showing the last snapshot seen.
 */
import type { DashboardSnapshot } from '@attnfit/coordinator/internal';

export async function waitForState(
  base: string,
  pred: (s: DashboardSnapshot) => boolean,
  timeoutMs = 60_000,
): Promise<DashboardSnapshot> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let last: DashboardSnapshot | undefined;
  try {
    const res = await fetch(`${base}/events`, { signal: ac.signal });
    if (res.status !== 200 || !res.body) throw new Error(`GET ${base}/events: ${res.status}`);
    if (!/^text\/event-stream/.test(res.headers.get('content-type') ?? ''))
      throw new Error(`GET ${base}/events: content-type ${res.headers.get('content-type')}`);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('event stream ended');
      buf += dec.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (ev === 'state' && data) {
          last = JSON.parse(data) as DashboardSnapshot;
          if (pred(last)) return last;
        }
      }
    }
  } catch (err) {
    if (ac.signal.aborted)
      throw new Error(
        `no dashboard state matched within ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 2000)}`,
        { cause: err },
      );
    throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
