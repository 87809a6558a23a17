/**
 * The one shutdown (drain) sequence of every long-running attnfit service — the NATS worker, the
 * cluster coordinator and the dynamic-session service:
 *
 *   1. stop taking work      (drain subscriptions, close the stream consumer)
 *   2. settle in-flight work (finish it, or hand it back so another process resumes it)
 *   3. flush                 (replies and acks still buffered for the server)
 *   4. close                 (the connection, threads, sessions)
 *
 * The steps run strictly in that order, each once; a failing step is reported to `log` and the
 * sequence goes on, so one broken step never leaves threads or connections open. Calling
 * {@link Shutdown.run} again returns the same promise (idempotent).
 */

/** What a service does at each step of its shutdown; omitted steps are skipped. */
export interface ShutdownSteps {
  /** 1. Stop taking work: after this resolves no new task, message or session is accepted. */
  stopIntake?: () => Promise<unknown> | void;
  /** 2. Finish in-flight work, or interrupt it so that it is resumed elsewhere (hand back). */
  settle?: () => Promise<unknown> | void;
  /** 3. Flush what is buffered for peers (replies, acks). */
  flush?: () => Promise<unknown> | void;
  /** 4. Release the connection, threads and other resources. */
  close?: () => Promise<unknown> | void;
  /** Awaited last (e.g. the connection's `closed()` promise); never rejects the sequence. */
  closed?: Promise<unknown>;
}

const ORDER = ['stopIntake', 'settle', 'flush', 'close'] as const;

/** A service's shutdown sequence (run at most once). */
export class Shutdown {
  private running: Promise<void> | undefined;

  /**
   * @param name service name used in log lines (e.g. "attnfit worker")
   * @param steps the service's steps
   * @param opts `log` receives a line per failed step; `skip` is asked before the first step
   *   (true = nothing to do, e.g. the connection is already closed)
   * @example const s = new Shutdown('attnfit worker', { stopIntake: () => sub.drain(), close: () => nc.drain() });
   */
  constructor(
    private readonly name: string,
    private readonly steps: ShutdownSteps,
    private readonly opts: { log?: (line: string) => void; skip?: () => boolean } = {},
  ) {}

  /** True once {@link run} was called: services stop accepting work from this moment. */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Run the sequence (once); later calls return the same promise. Never rejects. */
  run(): Promise<void> {
    this.running ??= this.sequence();
    return this.running;
  }

  private async sequence(): Promise<void> {
    if (this.opts.skip?.()) return;
    for (const step of ORDER) {
      const fn = this.steps[step];
      if (!fn) continue;
      try {
        await fn();
      } catch (err) {
        this.opts.log?.(`${this.name}: shutdown step ${step} failed: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    await this.steps.closed?.then(
      () => undefined,
      () => undefined,
    );
  }
}

/** A service that can be drained and reports when its connection has closed. */
export interface DrainableService {
  drain(): Promise<void>;
  /** Resolves when the connection is closed: undefined after a drain, the error after a fatal one. */
  readonly closed: Promise<Error | undefined>;
}

/** Shutdown tunables (the CLI's `--shutdown-timeout SECONDS` overrides the bound). */
export const SHUTDOWN_DEFAULTS = Object.freeze({
  /** Longest a drain may take after the first SIGTERM / SIGINT before the process exits anyway (ms). */
  timeoutMs: 10_000,
});

/** Exit code of a process ended by a second signal (the shell convention 128 + signal number). */
const SIGNAL_EXIT: Readonly<Record<string, number>> = Object.freeze({ SIGINT: 130, SIGTERM: 143 });

/** Options of {@link runUntilSignal}. */
export interface RunUntilSignalOptions {
  /** Service name in log lines (default "attnfit"). */
  name?: string;
  /** Bound on the drain after the first signal (ms, default {@link SHUTDOWN_DEFAULTS}.timeoutMs). */
  shutdownTimeoutMs?: number;
  /** Log sink (default: stderr lines). */
  log?: (line: string) => void;
  /** Ends the process (default `process.exit`; tests inject a spy). */
  exit?: (code: number) => void;
}

/**
 * Run a service until SIGTERM / SIGINT (then drain it) or until its connection closes on its
 * own. Resolves to the process exit code: 0 after a clean drain, 1 after a fatal error.
 *
 * The shutdown is bounded whether or not the NATS server is reachable (a drain waits on the
 * server, and a client reconnects forever): when the drain has not finished — or the process has
 * not exited — `shutdownTimeoutMs` after the first signal, the process exits with code 1 and a
 * log line. Work not finished by then is handed back: block tasks are retried by the
 * coordinator, jobs stay `running` and resume on the next coordinator's start. A second signal
 * exits at once (130 for SIGINT, 143 for SIGTERM).
 * `service` may be a start function: the signal handlers are then installed before it runs.
 * @example process.exitCode = await runUntilSignal(() => startWorkerService(opts), { name: 'attnfit worker' });
 */
export async function runUntilSignal(
  service: DrainableService | (() => Promise<DrainableService>),
  opts: RunUntilSignalOptions = {},
): Promise<number> {
  const name = opts.name ?? 'attnfit';
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const boundMs = opts.shutdownTimeoutMs ?? SHUTDOWN_DEFAULTS.timeoutMs;
  let svc: DrainableService | undefined;
  let signals = 0;
  const drain = (s: DrainableService): void => {
    s.drain().catch((err: unknown) => log(`${name}: shutdown failed: ${(err as Error)?.message ?? String(err)}`));
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log(`${name}: ${sig} again: exiting now`);
      exit(SIGNAL_EXIT[sig] ?? 1);
      return;
    }
    log(`${name}: ${sig}: shutting down (at most ${boundMs / 1000} s; ${sig} again to exit now)`);
    // Not cleared on a clean drain either: it also bounds the exit itself (threads, sockets).
    setTimeout(() => {
      log(
        `${name}: shutdown did not finish within ${boundMs / 1000} s (NATS server unreachable?): exiting; unfinished work is handed back`,
      );
      exit(1);
    }, boundMs).unref();
    if (svc) drain(svc); // else: drained as soon as the start-up finishes
  };
  // Installed before the service starts: a signal that arrives while it starts (or right after
  // its "ready" line) must not meet the default action, which kills the process without a drain.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    svc = typeof service === 'function' ? await service() : service;
  } catch (err) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    throw err;
  }
  if (signals > 0) drain(svc);
  const err = await svc.closed;
  // After a drain the handlers stay: a second signal during the rest of the exit still exits at once.
  if (signals === 0) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return err ? 1 : 0;
}
