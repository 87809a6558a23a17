export {
  AttnfitError,
  ErrorCodes,
  INPUT_ERROR_CODES,
  inputError,
  formatValue,
  errorToWire,
  wireToError,
} from './errors.js';
export type { ErrorCode, AttnfitErrorOptions, WireError } from './errors.js';
export type { Problem, Want, Partials, ArrayPartialKey } from './problem.js';
export { ARRAY_PARTIAL_KEYS, WANT_FLAGS, WANT_DIRECTIONS } from './problem.js';
