/**
 * attnfit errors: every error carries a stable `code`, a `retryable` flag and an optional
 * `cause`. Callers branch on `code`, never on message text. Errors cross threads and the wire
 * only through {@link errorToWire} / {@link wireToError} (instanceof does not survive
 * structured clone or msgpack).
 */

/** Error codes users and callers may rely on. Bad input → exit 2; anything else → exit 1. */
export const ErrorCodes = Object.freeze({
  USAGE: 'USAGE', // bad command line (unknown option, missing argument)
  BAD_OPTION: 'BAD_OPTION', // an option value out of range / malformed
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  BAD_FILE: 'BAD_FILE', // malformed or truncated .npy / .safetensors / JSON
  BAD_DTYPE: 'BAD_DTYPE', // unsupported dtype
  SHAPE_MISMATCH: 'SHAPE_MISMATCH',
  NON_FINITE: 'NON_FINITE', // NaN or Inf in input
  EMPTY: 'EMPTY', // n or d of 0
  BAD_OP: 'BAD_OP', // a bad line in an ops file
  OUTPUT_EXISTS: 'OUTPUT_EXISTS',
  AUTH: 'AUTH', // credentials refused
  NOT_FOUND: 'NOT_FOUND', // job / session / object not found
  TIMEOUT: 'TIMEOUT',
  CANCELLED: 'CANCELLED',
  CONNECTION: 'CONNECTION',
  PROTOCOL: 'PROTOCOL', // malformed or unknown-version wire message
  WORKER_LOST: 'WORKER_LOST',
  TOO_LARGE: 'TOO_LARGE', // a problem larger than a worker's memory limit for problems
  CONFLICT: 'CONFLICT', // another coordinator holds the cluster lease
  INTERNAL: 'INTERNAL',
} as const);
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | (string & {});

/** Codes that mean "the user gave us bad input" — the CLI exits 2 for these. */
export const INPUT_ERROR_CODES: ReadonlySet<string> = new Set([
  'USAGE',
  'BAD_OPTION',
  'FILE_NOT_FOUND',
  'BAD_FILE',
  'BAD_DTYPE',
  'SHAPE_MISMATCH',
  'NON_FINITE',
  'EMPTY',
  'BAD_OP',
  'OUTPUT_EXISTS',
  'AUTH',
  'NOT_FOUND',
]);

export interface AttnfitErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Free-form details (field name, value, file) for machines; message is for people. */
  details?: Record<string, unknown>;
}

/** The one error class of attnfit. */
export class AttnfitError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, opts: AttnfitErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AttnfitError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }
  /** True when the CLI should exit 2 (bad input / usage) rather than 1 (internal). */
  get isInputError(): boolean {
    return INPUT_ERROR_CODES.has(this.code);
  }
}

/** Shorthand for an input error naming the field and the offending value. */
export function inputError(code: ErrorCode, field: string, value: unknown, what: string): AttnfitError {
  return new AttnfitError(code, `${field}: ${what} (got ${formatValue(value)})`, {
    details: { field, value: formatValue(value) },
  });
}

/** Longest string {@link formatValue} shows whole; longer ones are cut (messages never echo a huge input). */
const FORMAT_MAX_CHARS = 80;
/** Array items {@link formatValue} shows; the rest are counted. */
const FORMAT_MAX_ITEMS = 8;

/**
 * How a value appears in an error message: JSON-like and short. Strings over 80 characters and
 * arrays over 8 items are cut and their length stated, so a hostile input (a 100 MB line, a
 * million-element array) is never echoed whole; the result is at most 160 characters.
 * @example formatValue('x'.repeat(1000)) // '"xxxx…x"… (1000 characters)'
 */
export function formatValue(v: unknown): string {
  const s = formatInner(v, 0);
  return s.length <= FORMAT_MAX_CHARS * 2 ? s : `${s.slice(0, FORMAT_MAX_CHARS * 2 - 20)}… (cut)`;
}

function formatInner(v: unknown, depth: number): string {
  if (typeof v === 'string') {
    return v.length <= FORMAT_MAX_CHARS
      ? JSON.stringify(v)
      : `${JSON.stringify(v.slice(0, FORMAT_MAX_CHARS - 20))}… (${v.length} characters)`;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined || typeof v === 'bigint')
    return String(v);
  if (Array.isArray(v)) {
    if (depth >= 2) return `array(${v.length})`;
    const shown = v.slice(0, FORMAT_MAX_ITEMS).map((x) => formatInner(x, depth + 1));
    return v.length <= FORMAT_MAX_ITEMS ? `[${shown.join(', ')}]` : `[${shown.join(', ')}, … (${v.length} items)]`;
  }
  if (ArrayBuffer.isView(v))
    return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  s ??= String(v);
  return s.length <= FORMAT_MAX_CHARS * 2 ? s : `${s.slice(0, FORMAT_MAX_CHARS * 2 - 20)}… (${s.length} characters)`;
}

/** Wire form of an error: plain data that survives structured clone and msgpack. */
export interface WireError {
  code: string;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
  stack?: string;
  cause?: WireError;
}

/** Encode any thrown value for another thread or process. */
export function errorToWire(err: unknown, depth = 0): WireError {
  if (err instanceof AttnfitError) {
    const w: WireError = { code: String(err.code), message: err.message, retryable: err.retryable };
    if (err.details) w.details = err.details;
    if (err.stack) w.stack = err.stack;
    if (err.cause !== undefined && depth < 4) w.cause = errorToWire(err.cause, depth + 1);
    return w;
  }
  if (err instanceof Error) {
    const anyErr = err as Error & { code?: unknown };
    const w: WireError = {
      code: typeof anyErr.code === 'string' && /^[A-Z_]+$/.test(anyErr.code) ? anyErr.code : ErrorCodes.INTERNAL,
      message: `${err.name}: ${err.message}`,
      retryable: false,
    };
    if (err.stack) w.stack = err.stack;
    if (err.cause !== undefined && depth < 4) w.cause = errorToWire(err.cause, depth + 1);
    return w;
  }
  return { code: ErrorCodes.INTERNAL, message: String(err), retryable: false };
}

/** Decode a {@link WireError} back into an {@link AttnfitError}. */
export function wireToError(w: WireError): AttnfitError {
  const opts: AttnfitErrorOptions = { retryable: !!w.retryable };
  if (w.details) opts.details = w.details;
  if (w.cause) opts.cause = wireToError(w.cause);
  const e = new AttnfitError(w.code || ErrorCodes.INTERNAL, w.message, opts);
  if (w.stack) e.stack = `${e.stack}\n--- remote stack ---\n${w.stack}`;
  return e;
}
