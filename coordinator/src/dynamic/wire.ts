/**
 * Subjects and message shapes of the NATS dynamic-session service. Bodies are msgpack
 * (`@attnfit/shared/protocol` encode, moreTypes: Float64Array survives); every request gets a
 * reply `{ ok: true, value } | { ok: false, error: WireError }`.
 *
 * - `attnfit.dyn.open` (queue group `attnfit-dyn`): `{ v, n, d, opts, Q?, K?, V? }` → `{ session, stats? }`.
 *   Without Q/K/V the client uploads them with `load` chunks and then sends `init`.
 * - `attnfit.dyn.<session>.<op>` with op one of {@link DYN_SESSION_OPS}:
 *   load `{ tensor: 'Q'|'K'|'V', offset, data: Float64Array }`, init `{}` → stats,
 *   update `{ op: 'updateK'|…, i, j, delta }`, query `{ i, j }` → number,
 *   queryRow `{ i }` → Float64Array, stats `{}`, rebuild `{ full? }`, apply `{ ops }` → results,
 *   close `{}`.
 */
export const DYN_SUBJECT_PREFIX = 'attnfit.dyn';
export const DYN_OPEN_SUBJECT = 'attnfit.dyn.open';
export const DYN_QUEUE = 'attnfit-dyn';
export const DYN_WIRE_VERSION = 1;
export const DYN_SESSION_OPS = Object.freeze([
  'load',
  'init',
  'update',
  'query',
  'queryRow',
  'stats',
  'rebuild',
  'apply',
  'close',
] as const);
export type DynSessionOp = (typeof DYN_SESSION_OPS)[number];

/** Subject of one session operation. */
export function dynSessionSubject(session: string, op: DynSessionOp | '*'): string {
  return `${DYN_SUBJECT_PREFIX}.${session}.${op}`;
}
