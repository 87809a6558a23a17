/**
 * A small TCP proxy on 127.0.0.1 for network-fault tests: clients connect to the proxy's port
 * instead of the server's, and the test changes what happens in between while they run:
 * - `setDelayMs(ms)`: every chunk is forwarded `ms` later (in order, both directions);
 * - `hold(true)`: a partition — nothing is forwarded (bytes wait, as TCP retransmits would)
 *   until `hold(false)` lets the backlog through;
 * - `cut()`: every open connection is destroyed at once (both sides see a reset);
 * - `refuse(true)`: new connections are accepted and closed at once (the server "is gone").
 * Loopback only; no host network settings are touched.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Connections accepted and forwarded so far (including closed ones). */
  readonly accepted: number;
  setDelayMs(ms: number): void;
  hold(on: boolean): void;
  cut(): void;
  refuse(on: boolean): void;
  close(): Promise<void>;
}

/** One direction of a connection: forwards chunks from `src` to `dst`, honouring delay and hold. */
function pipe(src: Socket, dst: Socket, state: { delayMs: number; held: boolean }, flushers: Set<() => void>): void {
  const backlog: Buffer[] = [];
  let nextAt = 0;
  const send = (chunk: Buffer) => {
    if (state.delayMs <= 0) {
      if (!dst.destroyed) dst.write(chunk);
      return;
    }
    // Keep order: a chunk never overtakes the one before it.
    nextAt = Math.max(Date.now() + state.delayMs, nextAt);
    setTimeout(() => {
      if (!dst.destroyed) dst.write(chunk);
    }, nextAt - Date.now());
  };
  const flush = () => {
    while (!state.held && backlog.length) send(backlog.shift()!);
  };
  flushers.add(flush);
  src.on('data', (chunk: Buffer) => {
    if (state.held || backlog.length) backlog.push(chunk);
    else send(chunk);
  });
  src.on('close', () => {
    flushers.delete(flush);
    dst.destroy();
  });
  src.on('error', () => dst.destroy());
}

/**
 * Start a proxy to 127.0.0.1:`targetPort`.
 * @example const p = await startTcpProxy(server.port); startWorker(['--nats', p.url]); p.cut();
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const state = { delayMs: 0, held: false, refusing: false };
  const sockets = new Set<Socket>();
  const flushers = new Set<() => void>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (state.refusing) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.setNoDelay(true);
    }
    pipe(client, upstream, state, flushers);
    pipe(upstream, client, state, flushers);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    setDelayMs(ms) {
      state.delayMs = ms;
    },
    hold(on) {
      state.held = on;
      if (!on) for (const f of [...flushers]) f();
    },
    cut() {
      for (const s of [...sockets]) s.destroy();
    },
    refuse(on) {
      state.refusing = on;
    },
    close() {
      for (const s of [...sockets]) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
