export { DynamicAttention, pickDynamicMode, dynamicThreshold } from './structure.js';
export type { DynamicMode, DynamicOptions, DynamicStats, RebuildPlan } from './structure.js';
export { DYNAMIC_DEFAULTS } from './defaults.js';
export { parseDynamicOp, applyDynamicOp, DYNAMIC_OP_NAMES } from './ops.js';
export type { DynamicOp, EntryUpdateOp, RowUpdateOp, QueryOp, QueryRowOp } from './ops.js';
