export {
  AttnfitError, ErrorCodes, INPUT_ERROR_CODES, inputError, formatValue, errorToWire, wireToError,
} from './errors.js';
export type { ErrorCode, AttnfitErrorOptions, WireError } from './errors.js';
