/**
 * Start a real nats-server for one test suite: 127.0.0.1, a free port, a temp JetStream store
 * dir; stop() kills it and removes the dir. Optional extra config text (users, cluster, ...).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerHandle {
  url: string;
  port: number;
  dir: string;
  /** The running nats-server process (a new one after restart()). */
  readonly proc: ChildProcess;
  /** Server output so far (all runs). */
  log(): string;
  /**
   * Stop the server (SIGKILL, or SIGTERM for a clean shutdown) and start it again on the same
   * port with the same config and JetStream store dir; resolves once it listens again.
   * `downMs` keeps it down that long first (the fault's duration).
   */
  restart(opts?: { signal?: 'SIGKILL' | 'SIGTERM'; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = netConnect({ host: '127.0.0.1', port }, () => {
        s.end();
        resolve();
      });
      s.on('error', () => {
        s.destroy();
        if (Date.now() > deadline)
          reject(new Error(`nats-server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export interface StartOptions {
  /** Extra nats-server config text appended after listen/jetstream lines. */
  config?: string;
  /** Use this port instead of a free one. */
  port?: number;
  jetstream?: boolean;
  /** Pass the config file through `-c` verbatim (caller supplies listen and store_dir). */
  rawConfig?: (ctx: { port: number; dir: string }) => string;
}

export async function startNatsServer(opts: StartOptions = {}): Promise<NatsServerHandle> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'attnfit-nats-'));
  const conf = opts.rawConfig
    ? opts.rawConfig({ port, dir })
    : [
        `listen: "127.0.0.1:${port}"`,
        opts.jetstream === false ? '' : `jetstream { store_dir: "${join(dir, 'js')}" }`,
        opts.config ?? '',
      ].join('\n');
  const confPath = join(dir, 'nats.conf');
  writeFileSync(confPath, conf);
  let log = '';
  let proc!: ChildProcess;
  let exited!: Promise<void>;
  const launch = async () => {
    proc = spawn('nats-server', ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d) => {
      log += d;
    });
    proc.stderr?.on('data', (d) => {
      log += d;
    });
    const p = proc;
    exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    try {
      await Promise.race([
        waitForPort(port, 10_000),
        exited.then(() => {
          throw new Error(`nats-server exited early:\n${log}`);
        }),
      ]);
    } catch (err) {
      p.kill('SIGKILL');
      throw err;
    }
  };
  const halt = async (signal: 'SIGKILL' | 'SIGTERM') => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    get proc() {
      return proc;
    },
    log: () => log,
    async restart({ signal = 'SIGKILL', downMs = 0 } = {}) {
      await halt(signal);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
