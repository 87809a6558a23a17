/**
 * msgpack codec of the wire protocol. `moreTypes: true` is required: without it msgpackr
 * silently turns a Float64Array into garbage bytes. Decoding validates version, kind and the
 * fields each kind needs, and throws AttnfitError(PROTOCOL) naming the field — callers turn that
 * into an error reply, never a crash.
 */
import { Packr } from 'msgpackr';
import {
  ARRAY_PARTIAL_KEYS,
  AttnfitError,
  ErrorCodes,
  WANT_DIRECTIONS,
  WANT_FLAGS,
  errorToWire,
  type ArrayPartialKey,
  type Partials,
  type WireError,
} from '@attnfit/shared/core';
import {
  MAX_WORKING_IDS,
  PROTOCOL_VERSION,
  WIRE_KINDS,
  type ErrorMsg,
  type WireKind,
  type WireMessage,
  type WirePartials,
  type WireWant,
} from './types.js';
import { DISPATCH_ID_RE } from './subjects.js';

const packr = new Packr({ moreTypes: true, useRecords: false, structuredClone: false, int64AsType: 'number' });

/** Encode any protocol message (or plain data) to msgpack bytes. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decode msgpack bytes without validation. Throws AttnfitError(PROTOCOL) on malformed bytes. */
export function decodeRaw(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new AttnfitError(ErrorCodes.PROTOCOL, `malformed message: not msgpack (${bytes.length} bytes)`, {
      cause: err,
    });
  }
}

function bad(kind: string, field: string, what: string, value?: unknown): AttnfitError {
  const shown = value === undefined ? '' : ` (got ${describe(value)})`;
  return new AttnfitError(ErrorCodes.PROTOCOL, `malformed ${kind} message: ${field} ${what}${shown}`, {
    details: { kind, field },
  });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return Array.isArray(v) ? `array(${v.length})` : 'object';
  return String(v);
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

function str(m: Rec, kind: string, f: string): void {
  if (typeof m[f] !== 'string' || (m[f] as string).length === 0) throw bad(kind, f, 'must be a non-empty string', m[f]);
}
function int(m: Rec, kind: string, f: string, min = 0): void {
  const v = m[f];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    throw bad(kind, f, `must be an integer >= ${min}`, v);
}
function num(m: Rec, kind: string, f: string, optional = false): void {
  const v = m[f];
  if (optional && v === undefined) return;
  if (typeof v !== 'number') throw bad(kind, f, 'must be a number', v);
}
function f64(m: Rec, kind: string, f: string, optional = false): void {
  const v = m[f];
  if (optional && v === undefined) return;
  if (!(v instanceof Float64Array)) throw bad(kind, f, 'must be a Float64Array', v);
}
function rec(m: Rec, kind: string, f: string): Rec {
  const v = m[f];
  if (!isRec(v)) throw bad(kind, f, 'must be a map', v);
  return v;
}

/** Validate a problem reference (also used by job spec validation). */
export function checkProblemRef(p: Rec, kind: string, prefix = 'problem'): void {
  if (typeof p.hash !== 'string' || !/^[0-9a-f]{64}$/.test(p.hash))
    throw bad(kind, `${prefix}.hash`, 'must be 64 lower-case hex characters', p.hash);
  int(p, kind, 'n', 1);
  int(p, kind, 'd', 1);
  str(p, kind, 'object');
}

function checkWant(w: Rec, kind: string): void {
  for (const k of WANT_FLAGS) {
    if (w[k] !== undefined && typeof w[k] !== 'boolean') throw bad(kind, `want.${k}`, 'must be a boolean', w[k]);
  }
  for (const k of WANT_DIRECTIONS) f64(w, kind, k, true);
}

function checkWireError(e: Rec, kind: string): void {
  str(e, kind, 'code');
  if (typeof e.message !== 'string') throw bad(kind, 'error.message', 'must be a string', e.message);
}

const CHECKS: Record<WireKind, (m: Rec) => void> = {
  task(m) {
    str(m, 'task', 'id');
    str(m, 'task', 'jobId');
    checkProblemRef(rec(m, 'task', 'problem'), 'task');
    int(m, 'task', 'r0');
    int(m, 'task', 'r1', 1);
    if ((m.r1 as number) <= (m.r0 as number)) throw bad('task', 'r1', `must be > r0 = ${String(m.r0)}`, m.r1);
    if (m.blockRows !== undefined) int(m, 'task', 'blockRows', 1);
    f64(m, 'task', 'X');
    f64(m, 'task', 'Y');
    checkWant(rec(m, 'task', 'want'), 'task');
  },
  result(m) {
    str(m, 'result', 'id');
    int(m, 'result', 'r0');
    int(m, 'result', 'r1');
    const p = rec(m, 'result', 'partials');
    int(p, 'result', 'rows');
  },
  error(m) {
    if (typeof m.id !== 'string') throw bad('error', 'id', 'must be a string', m.id);
    checkWireError(rec(m, 'error', 'error'), 'error');
  },
  chunk(m) {
    str(m, 'chunk', 'id');
    int(m, 'chunk', 'seq');
    int(m, 'chunk', 'total', 1);
    if ((m.seq as number) >= (m.total as number))
      throw bad('chunk', 'seq', `must be < total = ${String(m.total)}`, m.seq);
    if (!(m.data instanceof Uint8Array)) throw bad('chunk', 'data', 'must be bytes', m.data);
  },
  submit(m) {
    str(m, 'submit', 'jobId');
    rec(m, 'submit', 'spec');
    num(m, 'submit', 'submittedAt');
  },
  cancel(m) {
    str(m, 'cancel', 'jobId');
  },
  progress(m) {
    str(m, 'progress', 'jobId');
    int(m, 'progress', 'iteration');
    num(m, 'progress', 'loss');
    num(m, 'progress', 'relLoss');
    if (m.bytesSent !== undefined) int(m, 'progress', 'bytesSent');
    if (m.bytesReceived !== undefined) int(m, 'progress', 'bytesReceived');
  },
  'job.done'(m) {
    str(m, 'job.done', 'jobId');
    str(m, 'job.done', 'problemHash');
    str(m, 'job.done', 'state');
  },
  job(m) {
    str(m, 'job', 'id');
    str(m, 'job', 'state');
    checkProblemRef(rec(m, 'job', 'problem'), 'job');
    num(m, 'job', 'submittedAt');
    int(m, 'job', 'iteration');
  },
  checkpoint(m) {
    str(m, 'checkpoint', 'jobId');
    int(m, 'checkpoint', 'iteration');
    f64(m, 'checkpoint', 'X');
    f64(m, 'checkpoint', 'Y');
    if (!Array.isArray(m.history)) throw bad('checkpoint', 'history', 'must be an array', m.history);
  },
  'worker.heartbeat'(m) {
    const k = 'worker.heartbeat';
    str(m, k, 'name');
    str(m, k, 'host');
    str(m, k, 'gemm');
    str(m, k, 'version');
    if (m.state !== 'up' && m.state !== 'stopping') throw bad(k, 'state', 'must be "up" or "stopping"', m.state);
    int(m, k, 'pid');
    int(m, k, 'threads', 1);
    num(m, k, 'startedAt');
    num(m, k, 'sentAt');
    int(m, k, 'intervalMs', 1);
    for (const f of ['tasks', 'errors', 'inFlight', 'cached', 'fetches']) int(m, k, f);
    if (m.dispatchId !== undefined && (typeof m.dispatchId !== 'string' || !DISPATCH_ID_RE.test(m.dispatchId)))
      throw bad(k, 'dispatchId', 'must be 1-64 characters of [A-Za-z0-9_-]', m.dispatchId);
    if (
      m.working !== undefined &&
      (!Array.isArray(m.working) ||
        m.working.length > MAX_WORKING_IDS ||
        !m.working.every((x) => typeof x === 'string' && x.length >= 1 && x.length <= 128))
    )
      throw bad(k, 'working', `must be at most ${MAX_WORKING_IDS} task ids of 1-128 characters`, m.working);
  },
};

/**
 * Decode and validate a protocol message. Throws AttnfitError(PROTOCOL) for malformed bytes, an
 * unknown version, an unknown kind, or a kind other than `expect` (when given).
 * @example const task = decodeMessage(msg.data, 'task');
 */
export function decodeMessage<K extends WireKind>(
  bytes: Uint8Array,
  expect?: K | readonly K[],
): Extract<WireMessage, { kind: K }> {
  const m = decodeRaw(bytes);
  if (!isRec(m)) throw new AttnfitError(ErrorCodes.PROTOCOL, `malformed message: expected a map (got ${describe(m)})`);
  if (m.v !== PROTOCOL_VERSION) {
    throw new AttnfitError(
      ErrorCodes.PROTOCOL,
      `unsupported protocol version ${describe(m.v)} (this build speaks ${PROTOCOL_VERSION})`,
      { details: { field: 'v', value: m.v } },
    );
  }
  const kind = m.kind;
  if (typeof kind !== 'string' || !(WIRE_KINDS as readonly string[]).includes(kind)) {
    throw new AttnfitError(ErrorCodes.PROTOCOL, `malformed message: unknown kind ${describe(kind)}`, {
      details: { field: 'kind', value: kind },
    });
  }
  if (expect !== undefined) {
    const ok = Array.isArray(expect) ? (expect as readonly string[]).includes(kind) : expect === kind;
    if (!ok)
      throw new AttnfitError(
        ErrorCodes.PROTOCOL,
        `unexpected message kind "${kind}" (expected ${Array.isArray(expect) ? expect.join(' | ') : String(expect)})`,
      );
  }
  CHECKS[kind as WireKind](m);
  return m as unknown as Extract<WireMessage, { kind: K }>;
}

/**
 * Best-effort correlation id of possibly malformed bytes (so an error reply can still be
 * correlated). Returns '' when none can be found.
 */
export function peekId(bytes: Uint8Array): string {
  try {
    const m = packr.unpack(bytes) as unknown;
    if (isRec(m)) {
      if (typeof m.id === 'string') return m.id;
      if (typeof m.jobId === 'string') return m.jobId;
    }
  } catch {
    /* malformed: no id */
  }
  return '';
}

/** Build an error reply message for any thrown value. */
export function errorMessage(id: string, err: unknown): ErrorMsg {
  return { v: PROTOCOL_VERSION, kind: 'error', id, error: errorToWire(err) };
}

/** Encode an error reply (never throws: falls back to a minimal INTERNAL error). */
export function encodeError(id: string, err: unknown): Uint8Array {
  try {
    return encode(errorMessage(id, err));
  } catch {
    const w: WireError = { code: ErrorCodes.INTERNAL, message: 'unencodable error', retryable: false };
    return encode({ v: PROTOCOL_VERSION, kind: 'error', id, error: w });
  }
}

// ---- Partials and Want ----

/** Partials arrays sent as they are (hessXX has its own packed form). */
const PLAIN_KEYS = ARRAY_PARTIAL_KEYS.filter((k): k is Exclude<ArrayPartialKey, 'hessXX'> => k !== 'hessXX');

/**
 * Pack the upper triangle (j ≥ i, row-major) of a symmetric m×m matrix: m(m+1)/2 numbers.
 * The lower triangle is not read; unpackUpper mirrors it back, so a symmetric matrix
 * round-trips bit-exactly.
 */
export function packUpper(a: Float64Array, m: number): Float64Array {
  if (a.length !== m * m) throw new AttnfitError(ErrorCodes.PROTOCOL, `packUpper: length ${a.length} is not ${m}×${m}`);
  const out = new Float64Array((m * (m + 1)) / 2);
  let k = 0;
  for (let i = 0; i < m; i++) for (let j = i; j < m; j++) out[k++] = a[i * m + j]!;
  return out;
}

/** Inverse of {@link packUpper}: the full symmetric m×m matrix. */
export function unpackUpper(u: Float64Array, m: number): Float64Array {
  if (u.length !== (m * (m + 1)) / 2)
    throw new AttnfitError(ErrorCodes.PROTOCOL, `unpackUpper: length ${u.length} is not ${m}(${m}+1)/2`);
  const out = new Float64Array(m * m);
  let k = 0;
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      const v = u[k++]!;
      out[i * m + j] = v;
      out[j * m + i] = v;
    }
  }
  return out;
}

/** True when the m×m matrix is bit-exactly symmetric (so packUpper loses nothing). */
export function isExactlySymmetric(a: Float64Array, m: number): boolean {
  for (let i = 0; i < m; i++) {
    for (let j = i + 1; j < m; j++) if (!Object.is(a[i * m + j], a[j * m + i])) return false;
  }
  return true;
}

/**
 * Partials → wire form. hessXX travels as the upper triangle of its d²×d² matrix when it is
 * bit-exactly symmetric (half the bytes); otherwise in full, so results stay bitwise identical
 * to local evaluation either way.
 */
export function partialsToWire(p: Partials, d: number): WirePartials {
  const w: WirePartials = { rows: p.rows };
  if (p.loss !== undefined) w.loss = p.loss;
  for (const k of PLAIN_KEYS) if (p[k] !== undefined) w[k] = p[k];
  if (p.hessXX !== undefined) {
    if (isExactlySymmetric(p.hessXX, d * d)) w.hessXXUpper = packUpper(p.hessXX, d * d);
    else w.hessXX = p.hessXX;
  }
  return w;
}

/** Wire form → partials. Validates array lengths against d. */
export function wireToPartials(w: WirePartials, d: number): Partials {
  const p: Partials = { rows: w.rows };
  if (w.loss !== undefined) {
    if (typeof w.loss !== 'number') throw bad('result', 'partials.loss', 'must be a number', w.loss);
    p.loss = w.loss;
  }
  const dd = d * d;
  const expectLen: Record<(typeof PLAIN_KEYS)[number], number> = {
    gradX: dd,
    gradY: dd,
    hessXY: dd * dd,
    MtM: dd,
    MtB: dd,
    hvpX: dd,
    mixedXY: dd,
    mixedYX: dd,
  };
  for (const k of PLAIN_KEYS) {
    const v = w[k];
    if (v === undefined) continue;
    if (!(v instanceof Float64Array) || v.length !== expectLen[k])
      throw bad('result', `partials.${k}`, `must be a Float64Array(${expectLen[k]})`, v);
    p[k] = v;
  }
  if (w.hessXX !== undefined) {
    if (!(w.hessXX instanceof Float64Array) || w.hessXX.length !== dd * dd)
      throw bad('result', 'partials.hessXX', `must be a Float64Array(${dd * dd})`, w.hessXX);
    p.hessXX = w.hessXX;
  } else if (w.hessXXUpper !== undefined) {
    if (!(w.hessXXUpper instanceof Float64Array))
      throw bad('result', 'partials.hessXXUpper', 'must be a Float64Array', w.hessXXUpper);
    p.hessXX = unpackUpper(w.hessXXUpper, dd);
  }
  return p;
}

/** Want → wire (drops false/undefined flags). */
export function wantToWire(want: WireWant): WireWant {
  const w: WireWant = {};
  for (const k of WANT_FLAGS) if (want[k]) w[k] = true;
  for (const k of WANT_DIRECTIONS) if (want[k] !== undefined) w[k] = want[k];
  return w;
}
