export type { Problem, Want, Partials, ArrayPartialKey } from './types.js';
export { ARRAY_PARTIAL_KEYS } from './types.js';
export { blockPartials, evaluateProblem, attentionForward, setHessianSlabElements } from './attention.js';
export { combinePartials, emptyPartials } from './partials.js';
export { planBlocks, defaultBlockRows, BLOCK_TARGET_ELEMENTS, MIN_BLOCKS } from './blocks.js';
export { solveYStar, solveYStarDetailed, hessYY, applyHessYYInverse } from './ystar.js';
export { regTerms, gram, gramPartials } from './regularizer.js';
export type { Gram, RegTerms } from './regularizer.js';
export { bNorm2, relLoss } from './loss.js';
export {
  planTree,
  planShards,
  shardBlockRanges,
  defaultShardCount,
  reduceInOrder,
  reduceTree,
  TreeReducer,
  foldInOrder,
  MAX_SHARDS,
  SHARD_MIN_ELEMENTS,
  SHARD_ELEMENTS_PER_PARTIAL,
  subsetBlocks,
} from './shards.js';
export type { ShardPlan, Shard } from './shards.js';
