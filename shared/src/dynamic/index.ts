export { DynamicAttention, pickDynamicMode, dynamicThreshold } from './structure.js';
export { planRebuildShards } from './rebuild.js';
export type { DynamicMode, DynamicOptions, DynamicStats, RebuildPlan, DynamicSharedState } from './types.js';
export { DYNAMIC_DEFAULTS } from './defaults.js';
export { parseDynamicOp, applyDynamicOp, DYNAMIC_OP_NAMES, OpsParser, maxOpsLineBytes } from './ops.js';
export type { DynamicOp, EntryUpdateOp, RowUpdateOp, QueryOp, QueryRowOp, OpsParserOptions } from './ops.js';
export { rebuildSharded } from './sharded.js';
export type { RebuildRowsRunner, ShardedRebuildResult } from './sharded.js';
