/**
 * Option parsers for the CLI. Each validates at the boundary and throws an AttnfitError whose
 * message names the option and the value (exit 2).
 */
import { AttnfitError, ErrorCodes, formatValue } from '@attnfit/shared/core';

function bad(flag: string, value: unknown, what: string): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OPTION, `${flag}: ${what} (got ${formatValue(value)})`, {
    details: { field: flag, value },
  });
}

/** Integer option ≥ min. */
export function intOption(flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw bad(flag, v, 'must be an integer');
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw bad(
        flag,
        v,
        max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer in [${min}, ${max}]`,
      );
    return n;
  };
}

/** Finite float option with optional strict lower bound (exclusive) / inclusive bounds. */
export function floatOption(flag: string, opts: { gt?: number; ge?: number; le?: number } = {}): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw bad(flag, v, 'must be a finite number');
    if (opts.gt !== undefined && !(n > opts.gt)) throw bad(flag, v, `must be > ${opts.gt}`);
    if (opts.ge !== undefined && !(n >= opts.ge)) throw bad(flag, v, `must be >= ${opts.ge}`);
    if (opts.le !== undefined && !(n <= opts.le)) throw bad(flag, v, `must be <= ${opts.le}`);
    return n;
  };
}

/** One of a fixed set of strings. */
export function choiceOption<T extends string>(flag: string, choices: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!(choices as readonly string[]).includes(v)) throw bad(flag, v, `must be one of ${choices.join(', ')}`);
    return v as T;
  };
}

/** Repeatable string option (e.g. --nats URL --nats URL2). */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/**
 * Largest thread count any `--threads` option accepts (local solve and loss, worker processes,
 * dynamic rebuilds): far above any core count, low enough to catch a typo.
 */
export const MAX_THREADS = 4096;

/** `--threads` parser: an integer in [1, {@link MAX_THREADS}]. */
export function threadsOption(flag = '--threads'): (v: string) => number {
  return intOption(flag, 1, MAX_THREADS);
}

/**
 * `--shutdown-timeout SECONDS` of the long-running services (`worker`, `coordinator`,
 * `dynamic serve`): commander `.option(...)` arguments. A number > 0 and ≤ 3600 (default:
 * SHUTDOWN_DEFAULTS.timeoutMs / 1000 = 10 s, applied by runUntilSignal).
 */
export function shutdownTimeoutFlag(): [string, string, (v: string) => number] {
  return [
    '--shutdown-timeout <seconds>',
    'after SIGTERM / SIGINT, exit within this many seconds even when the NATS server is unreachable (default 10; a second signal exits at once)',
    floatOption('--shutdown-timeout', { gt: 0, le: 3600 }),
  ];
}
