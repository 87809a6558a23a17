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
    await this.steps.closed?.then(() => undefined, () => undefined);
  }
}

/** A service that can be drained and reports when its connection has closed. */
export interface DrainableService {
  drain(): Promise<void>;
  /** Resolves when the connection is closed: undefined after a drain, the error after a fatal one. */
  readonly closed: Promise<Error | undefined>;
}

/**
 * Run a service until SIGTERM / SIGINT (then drain it) or until its connection closes on its
 * own. Resolves to the process exit code: 0 after a clean drain, 1 after a fatal error.
 * @example process.exitCode = await runUntilSignal(await startWorkerService(opts));
 */
export async function runUntilSignal(svc: DrainableService): Promise<number> {
  const stop = (): void => { void svc.drain(); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const err = await svc.closed;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  return err ? 1 : 0;
}
