export type { Problem, Want, Partials, ArrayPartialKey } from './types.js';
export { ARRAY_PARTIAL_KEYS } from './types.js';
