/**
 * Operations on a dynamic attention structure as plain data (the ops-file lines of
 * `attnfit dynamic` and the requests of the session services), with one validator.
 */
import { AttnfitError, ErrorCodes, formatValue } from '../core/index.js';
import type { DynamicAttention } from './structure.js';

/** An entry update: K[i,j] += delta (updateK) / V[i,j] += delta (updateV); setK/setV assign. */
export interface EntryUpdateOp {
  op: 'updateK' | 'updateV' | 'setK' | 'setV';
  i: number;
  j: number;
  delta: number;
}
/** A token edit: K[i,:] += delta / V[i,:] += delta (delta has d numbers). */
export interface RowUpdateOp {
  op: 'updateKRow' | 'updateVRow';
  i: number;
  delta: number[];
}
/** Query one entry (softmax(QKᵀ)V)[i,j]. */
export interface QueryOp {
  op: 'query';
  i: number;
  j: number;
}
/** Query one row (softmax(QKᵀ)V)[i,:]. */
export interface QueryRowOp {
  op: 'queryRow';
  i: number;
}
export type DynamicOp = EntryUpdateOp | RowUpdateOp | QueryOp | QueryRowOp;

/** Every op name accepted by {@link parseDynamicOp}. */
export const DYNAMIC_OP_NAMES = Object.freeze([
  'updateK',
  'updateV',
  'setK',
  'setV',
  'updateKRow',
  'updateVRow',
  'query',
  'queryRow',
] as const);

function bad(msg: string, field: string, value: unknown): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OP, `${field}: ${msg} (got ${formatValue(value)})`, {
    details: { field, value: formatValue(value) },
  });
}

function index(o: Record<string, unknown>, field: 'i' | 'j', size: number): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= size)
    throw bad(`must be an integer in [0, ${size - 1}]`, `"${field}"`, v);
  return v;
}

/**
 * Validate one op (already JSON-parsed) against an n×d structure. Throws AttnfitError BAD_OP
 * whose message names the field and the value (callers prefix the file and line).
 * Example: `parseDynamicOp({ op: 'query', i: 0, j: 1 }, 8, 4)`.
 */
export function parseDynamicOp(value: unknown, n: number, d: number): DynamicOp {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw bad('must be a JSON object', 'op line', value);
  const o = value as Record<string, unknown>;
  const op = o.op;
  if (typeof op !== 'string' || !(DYNAMIC_OP_NAMES as readonly string[]).includes(op))
    throw bad(`unknown op, expected one of ${DYNAMIC_OP_NAMES.join(', ')}`, '"op"', op);
  const i = index(o, 'i', n);
  switch (op) {
    case 'query':
      return { op, i, j: index(o, 'j', d) };
    case 'queryRow':
      return { op, i };
    case 'updateKRow':
    case 'updateVRow': {
      const dl = o.delta;
      if (!Array.isArray(dl) || dl.length !== d) throw bad(`must be an array of d = ${d} numbers`, '"delta"', dl);
      for (let c = 0; c < d; c++)
        if (typeof dl[c] !== 'number' || !Number.isFinite(dl[c]))
          throw bad('must be a finite number', `"delta"[${c}]`, dl[c]);
      return { op, i, delta: dl as number[] };
    }
    default: {
      const j = index(o, 'j', d);
      const dl = o.delta;
      if (typeof dl !== 'number' || !Number.isFinite(dl)) throw bad('must be a finite number', '"delta"', dl);
      return { op: op as EntryUpdateOp['op'], i, j, delta: dl };
    }
  }
}

/** Apply a validated op: returns the value for 'query', the row for 'queryRow', else undefined. */
export function applyDynamicOp(da: DynamicAttention, op: DynamicOp): number | Float64Array | undefined {
  switch (op.op) {
    case 'updateK':
      da.updateK(op.i, op.j, op.delta);
      return undefined;
    case 'updateV':
      da.updateV(op.i, op.j, op.delta);
      return undefined;
    case 'setK':
      da.setK(op.i, op.j, op.delta);
      return undefined;
    case 'setV':
      da.setV(op.i, op.j, op.delta);
      return undefined;
    case 'updateKRow':
      da.updateKRow(op.i, op.delta);
      return undefined;
    case 'updateVRow':
      da.updateVRow(op.i, op.delta);
      return undefined;
    case 'query':
      return da.query(op.i, op.j);
    case 'queryRow':
      return da.queryRow(op.i);
  }
}

/** Options of {@link OpsParser}. */
export interface OpsParserOptions {
  /** How messages name the file, e.g. "ops.jsonl" → "ops.jsonl line 7: …". */
  label?: string;
  /** Longest line accepted in bytes (default {@link maxOpsLineBytes}(d)). */
  maxLineBytes?: number;
}

/**
 * Longest ops line accepted for dimension d: a token edit's d numbers at up to 32 bytes each,
 * plus 4 KiB for the rest (and generous spacing). A longer line is refused without being
 * decoded, so a hostile 100 MB line costs neither its size in memory nor an echo in the message.
 */
export function maxOpsLineBytes(d: number): number {
  return 4096 + 64 * d;
}

/**
 * Incremental parser of an ops file (JSON lines, blank lines ignored, `\n` or `\r\n`): feed the
 * bytes in chunks of any size with {@link OpsParser.push}, then {@link OpsParser.end} returns every
 * validated op. Memory is bounded by one line (≤ `maxLineBytes`) plus the ops parsed. The result
 * does not depend on how the bytes were split into chunks (UTF-8 sequences may straddle them).
 * Throws AttnfitError(BAD_OP) naming the line: "ops.jsonl line 7: …".
 * @example const p = new OpsParser(n, d, { label: 'ops.jsonl' }); p.push(bytes); const ops = p.end();
 */
export class OpsParser {
  private readonly label: string;
  private readonly maxLine: number;
  private readonly ops: DynamicOp[] = [];
  private readonly decoder = new TextDecoder('utf-8');
  /** Pieces of the current (unfinished) line and their total length. */
  private pieces: Uint8Array[] = [];
  private pieceBytes = 0;
  private line = 0;

  constructor(
    private readonly n: number,
    private readonly d: number,
    opts: OpsParserOptions = {},
  ) {
    this.label = opts.label ?? 'ops';
    this.maxLine = opts.maxLineBytes ?? maxOpsLineBytes(d);
  }

  /** Feed the next bytes of the file. */
  push(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.pieceBytes + (end - start) > this.maxLine) this.tooLong();
      if (nl < 0) {
        if (end > start) {
          this.pieces.push(chunk.slice(start, end));
          this.pieceBytes += end - start;
        }
        return;
      }
      this.finishLine(chunk.subarray(start, end));
      start = nl + 1;
    }
  }

  /** End of input: parse the last line (if it has no newline) and return every op. */
  end(): DynamicOp[] {
    if (this.pieceBytes > 0) this.finishLine(new Uint8Array(0));
    return this.ops;
  }

  private tooLong(): never {
    throw new AttnfitError(
      ErrorCodes.BAD_OP,
      `${this.label} line ${this.line + 1}: longer than ${this.maxLine} bytes (an op line for d = ${this.d} needs far less)`,
      { details: { file: this.label, line: this.line + 1 } },
    );
  }

  private finishLine(tail: Uint8Array): void {
    this.line++;
    let bytes = tail;
    if (this.pieces.length) {
      bytes = new Uint8Array(this.pieceBytes + tail.length);
      let off = 0;
      for (const p of this.pieces) {
        bytes.set(p, off);
        off += p.length;
      }
      bytes.set(tail, off);
      this.pieces = [];
      this.pieceBytes = 0;
    }
    const text = this.decoder.decode(bytes).trim();
    if (text === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new AttnfitError(
        ErrorCodes.BAD_OP,
        `${this.label} line ${this.line}: invalid JSON (${(err as Error).message})`,
        { details: { file: this.label, line: this.line } },
      );
    }
    try {
      this.ops.push(parseDynamicOp(value, this.n, this.d));
    } catch (err) {
      throw new AttnfitError(ErrorCodes.BAD_OP, `${this.label} line ${this.line}: ${(err as Error).message}`, {
        cause: err,
        details: { file: this.label, line: this.line },
      });
    }
  }
}
