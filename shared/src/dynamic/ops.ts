/**
 * Operations on a dynamic attention structure as plain data (the ops-file lines of
 * `attnfit dynamic` and the requests of the session services), with one validator.
 */
import { AttnfitError, ErrorCodes, formatValue } from '../core/index.js';
import type { DynamicAttention } from './structure.js';

/** An entry update: K[i,j] += delta (updateK) / V[i,j] += delta (updateV); setK/setV assign. */
export interface EntryUpdateOp { op: 'updateK' | 'updateV' | 'setK' | 'setV'; i: number; j: number; delta: number }
/** A token edit: K[i,:] += delta / V[i,:] += delta (delta has d numbers). */
export interface RowUpdateOp { op: 'updateKRow' | 'updateVRow'; i: number; delta: number[] }
/** Query one entry (softmax(QKᵀ)V)[i,j]. */
export interface QueryOp { op: 'query'; i: number; j: number }
/** Query one row (softmax(QKᵀ)V)[i,:]. */
export interface QueryRowOp { op: 'queryRow'; i: number }
export type DynamicOp = EntryUpdateOp | RowUpdateOp | QueryOp | QueryRowOp;

/** Every op name accepted by {@link parseDynamicOp}. */
export const DYNAMIC_OP_NAMES = Object.freeze(['updateK', 'updateV', 'setK', 'setV', 'updateKRow', 'updateVRow', 'query', 'queryRow'] as const);

function bad(msg: string, field: string, value: unknown): AttnfitError {
  return new AttnfitError(ErrorCodes.BAD_OP, `${field}: ${msg} (got ${formatValue(value)})`, { details: { field, value: formatValue(value) } });
}

function index(o: Record<string, unknown>, field: 'i' | 'j', size: number): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= size) throw bad(`must be an integer in [0, ${size - 1}]`, `"${field}"`, v);
  return v;
}

/**
 * Validate one op (already JSON-parsed) against an n×d structure. Throws AttnfitError BAD_OP
 * whose message names the field and the value (callers prefix the file and line).
 * Example: `parseDynamicOp({ op: 'query', i: 0, j: 1 }, 8, 4)`.
 */
export function parseDynamicOp(value: unknown, n: number, d: number): DynamicOp {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('must be a JSON object', 'op line', value);
  const o = value as Record<string, unknown>;
  const op = o.op;
  if (typeof op !== 'string' || !(DYNAMIC_OP_NAMES as readonly string[]).includes(op)) throw bad(`unknown op, expected one of ${DYNAMIC_OP_NAMES.join(', ')}`, '"op"', op);
  const i = index(o, 'i', n);
  switch (op) {
    case 'query': return { op, i, j: index(o, 'j', d) };
    case 'queryRow': return { op, i };
    case 'updateKRow': case 'updateVRow': {
      const dl = o.delta;
      if (!Array.isArray(dl) || dl.length !== d) throw bad(`must be an array of d = ${d} numbers`, '"delta"', dl);
      for (let c = 0; c < d; c++) if (typeof dl[c] !== 'number' || !Number.isFinite(dl[c])) throw bad('must be a finite number', `"delta"[${c}]`, dl[c]);
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
    case 'updateK': da.updateK(op.i, op.j, op.delta); return undefined;
    case 'updateV': da.updateV(op.i, op.j, op.delta); return undefined;
    case 'setK': da.setK(op.i, op.j, op.delta); return undefined;
    case 'setV': da.setV(op.i, op.j, op.delta); return undefined;
    case 'updateKRow': da.updateKRow(op.i, op.delta); return undefined;
    case 'updateVRow': da.updateVRow(op.i, op.delta); return undefined;
    case 'query': return da.query(op.i, op.j);
    case 'queryRow': return da.queryRow(op.i);
  }
}
