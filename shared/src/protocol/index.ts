/**
 * @attnfit/shared/protocol — the versioned wire protocol of the NATS cluster: message types,
 * subjects, msgpack codec (moreTypes), partials codec, chunking, job spec validation and the
 * problem blob format.
 */
export { PROTOCOL_VERSION, JOB_STATES, TERMINAL_STATES, WIRE_KINDS } from './types.js';
export type {
  ProblemRef,
  WireWant,
  WirePartials,
  TaskMsg,
  ResultMsg,
  ErrorMsg,
  ChunkMsg,
  JobSolveOptions,
  JobSpec,
  SubmitMsg,
  CancelMsg,
  ProgressMsg,
  JobDoneMsg,
  JobState,
  JobResultSummary,
  JobRecord,
  CheckpointMsg,
  WorkerHeartbeatMsg,
  WireMessage,
  WireKind,
} from './types.js';
export {
  TASK_SUBJECT,
  TASK_QUEUE,
  SUBMIT_SUBJECT,
  CANCEL_SUBJECT,
  JOB_DONE_SUBJECT,
  WORKER_HEARTBEAT_SUBJECT,
  PROGRESS_PREFIX,
  JOBS_STREAM,
  JOBS_STREAM_SUBJECTS,
  JOBS_CONSUMER,
  JOBS_BUCKET,
  DATA_BUCKET,
  PROBLEMS_BUCKET,
  RESULTS_BUCKET,
  problemPartName,
  JOB_ID_RE,
  progressSubject,
  jobKey,
  checkpointKey,
  problemObjectName,
  resultObjectName,
} from './subjects.js';
export {
  encode,
  decodeRaw,
  decodeMessage,
  peekId,
  errorMessage,
  encodeError,
  checkProblemRef,
  packUpper,
  unpackUpper,
  isExactlySymmetric,
  partialsToWire,
  wireToPartials,
  wantToWire,
} from './codec.js';
export { toFrames, Reassembler, DEFAULT_MAX_PAYLOAD, CHUNK_OVERHEAD, MAX_CHUNKS } from './chunk.js';
export { validateJobSpec, JOB_METHODS, JOB_LIMITS } from './jobspec.js';
export {
  packProblem,
  unpackProblem,
  problemViews,
  sha256Hex,
  problemRef,
  problemBlobBytes,
  problemManifest,
  encodeManifest,
  decodeManifest,
  blobPart,
  readProblemBlob,
} from './problem-blob.js';
export type { ProblemManifest, BlobSource } from './problem-blob.js';
