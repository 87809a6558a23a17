/**
 * The one reader of attnfit's environment variables (`ATTNFIT_*`). Every variable is declared
 * once in {@link ENV_VARS} with the values it accepts, its default and its effect — the rows of
 * the table in docs/environment.md, which a test compares with this list — and is read only
 * through {@link readEnv} / {@link readConfig}. A bad value is an AttnfitError BAD_OPTION naming
 * the variable and the value (the CLI exits 2). An unset or empty variable means its default.
 *
 * This layer imports only the core errors and no `node:*` module (it reaches `process.env`
 * through globalThis), so the kernels may read their switches here too. Values are read on every
 * call, never cached: tests and embedding programs may change `process.env` at run time.
 */
import { AttnfitError, ErrorCodes, formatValue } from '../core/index.js';

/** The GEMM backend forced by ATTNFIT_GEMM ('auto': native BLAS when built, else WebAssembly SIMD). */
export type GemmChoice = 'auto' | 'wasm' | 'ts' | 'ref' | 'native';

/** attnfit's settings from the environment (see {@link ENV_VARS} for each one's variable). */
export interface AttnfitConfig {
  /** ATTNFIT_GEMM: the GEMM backend to force. */
  readonly gemm: GemmChoice;
  /** ATTNFIT_NATIVE: build and load the optional native BLAS addon. */
  readonly native: boolean;
  /** ATTNFIT_WASM_FMA: let the native loader enable WebAssembly relaxed SIMD (the FMA GEMM kernel). */
  readonly wasmFma: boolean;
  /** ATTNFIT_NO_SAB: give threads private copies of problem tensors instead of SharedArrayBuffers. */
  readonly noSab: boolean;
  /** ATTNFIT_DEBUG: print the stack under every CLI error line. */
  readonly debug: boolean;
  /** ATTNFIT_NATS_URL: NATS server URL(s) for the cluster commands (undefined: unset). */
  readonly natsUrl: readonly string[] | undefined;
  /** ATTNFIT_NATS_USER: NATS user. */
  readonly natsUser: string | undefined;
  /** ATTNFIT_NATS_PASS: NATS password. */
  readonly natsPass: string | undefined;
  /** ATTNFIT_NATS_CREDS: path of a NATS .creds file. */
  readonly natsCreds: string | undefined;
  /** ATTNFIT_CLUSTER_DIR: state directory of `cluster up|down`, and where commands look for its context.json. */
  readonly clusterDir: string;
  /** ATTNFIT_UPLOAD_PART_SIZE: bytes per part when a client uploads a problem. */
  readonly uploadPartBytes: number;
  /** ATTNFIT_WORKER_PROBLEM_MEMORY: bytes a worker may spend on one problem (undefined: from free memory). */
  readonly workerProblemBytes: number | undefined;
}

/** Defaults of every setting: what attnfit does when the variable is unset or empty. */
export const CONFIG_DEFAULTS: AttnfitConfig = Object.freeze({
  gemm: 'auto',
  native: true,
  wasmFma: true,
  noSab: false,
  debug: false,
  natsUrl: undefined,
  natsUser: undefined,
  natsPass: undefined,
  natsCreds: undefined,
  clusterDir: '.attnfit-cluster',
  uploadPartBytes: 8 * 1024 * 1024,
  workerProblemBytes: undefined,
});

/** One environment variable: a row of the docs table plus its parser. */
export interface EnvVarSpec<K extends keyof AttnfitConfig = keyof AttnfitConfig> {
  /** Variable name, e.g. 'ATTNFIT_GEMM'. */
  readonly name: string;
  /** Key in {@link AttnfitConfig}. */
  readonly key: K;
  /** Accepted values, as the docs table shows them. */
  readonly values: string;
  /** Default, as the docs table shows it. */
  readonly default: string;
  /** What it does, as the docs table shows it. */
  readonly effect: string;
  /** Raw (trimmed, non-empty) text → value; returns an error text (without the name) for a bad value. */
  readonly parse: (raw: string) => { value: AttnfitConfig[K] } | { error: string };
}

const BOOL: Readonly<Record<string, boolean>> = Object.freeze({ 1: true, true: true, 0: false, false: false });

function bool(raw: string): { value: boolean } | { error: string } {
  const v = BOOL[raw.toLowerCase()];
  return v === undefined ? { error: 'must be 0 or 1 (or true / false)' } : { value: v };
}

function text(raw: string): { value: string } {
  return { value: raw };
}

/**
 * A NATS server address as `--nats` and ATTNFIT_NATS_URL accept it: nats://, tls://, ws:// or
 * wss:// with a host and optional port, or plain host:port.
 */
export const NATS_URL_RE = /^(nats|tls|ws|wss):\/\/[^\s/]+(:\d+)?\/?$|^[^\s:/]+:\d+$/;

/**
 * Split a comma-separated list of NATS URLs and check each one; returns the URLs, or the first
 * one that is not a NATS URL.
 */
export function parseNatsUrls(raw: string): { urls: string[] } | { bad: string } {
  const urls = raw
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of urls) if (!NATS_URL_RE.test(u)) return { bad: u };
  return { urls };
}

const SIZE_UNITS: Readonly<Record<string, number>> = Object.freeze({
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
});

/**
 * A byte size as the size variables accept it: an integer with an optional binary unit
 * (`B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, any case), e.g. `8MiB`, `512k`, `4096`.
 */
export function parseByteSize(raw: string, min = 1): { value: number } | { error: string } {
  const m = /^(\d{1,15})\s*([a-z]*)$/i.exec(raw.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return { error: 'must be a byte size such as 8MiB, 512KiB or 4096' };
  const v = Number(m[1]) * unit;
  if (!Number.isSafeInteger(v) || v < min) return { error: `must be at least ${min} bytes` };
  return { value: v };
}

const GEMM_ALIASES: Readonly<Record<string, GemmChoice>> = Object.freeze({
  wasm: 'wasm',
  'wasm-simd': 'wasm',
  ts: 'ts',
  ref: 'ref',
  'ts-ref': 'ref',
  native: 'native',
  'native-blas': 'native',
});

function spec<K extends keyof AttnfitConfig>(s: EnvVarSpec<K>): EnvVarSpec<K> {
  return Object.freeze(s);
}

/** Every environment variable attnfit reads, in the order of the docs table. */
export const ENV_VARS = Object.freeze([
  spec({
    name: 'ATTNFIT_GEMM',
    key: 'gemm',
    values: '`wasm`, `ts`, `ref`, `native` (also `wasm-simd`, `ts-ref`, `native-blas`)',
    default: 'unset: `native` when the addon is built, else `wasm`',
    effect:
      'Forces the GEMM backend of the process and its threads: WebAssembly SIMD, packed TypeScript, the reference loop, or the native BLAS addon.',
    parse: (raw) => {
      const v = GEMM_ALIASES[raw.toLowerCase()];
      return v === undefined ? { error: 'must be one of wasm, ts, ref, native' } : { value: v };
    },
  }),
  spec({
    name: 'ATTNFIT_NATIVE',
    key: 'native',
    values: '`0`, `1`',
    default: '`1`',
    effect: '`0`: `npm run build` does not compile the native BLAS addon and attnfit does not load it.',
    parse: bool,
  }),
  spec({
    name: 'ATTNFIT_WASM_FMA',
    key: 'wasmFma',
    values: '`0`, `1`',
    default: '`1`',
    effect:
      "`0`: the native loader leaves V8's relaxed-SIMD flag alone, so the WebAssembly GEMM uses mul+add instead of FMA on Node 20.",
    parse: bool,
  }),
  spec({
    name: 'ATTNFIT_NO_SAB',
    key: 'noSab',
    values: '`0`, `1`',
    default: '`0`',
    effect:
      '`1`: problem tensors are copied once per thread instead of shared through SharedArrayBuffers (same results).',
    parse: bool,
  }),
  spec({
    name: 'ATTNFIT_DEBUG',
    key: 'debug',
    values: '`0`, `1`',
    default: '`0`',
    effect: '`1`: every `attnfit: error [CODE]` line is followed by the stack.',
    parse: bool,
  }),
  spec({
    name: 'ATTNFIT_NATS_URL',
    key: 'natsUrl',
    values: 'NATS URL(s), comma-separated',
    default: 'unset',
    effect: 'Server for every command that takes `--nats` when the flag is absent (`solve`: with a bare `--nats`).',
    parse: (raw) => {
      const r = parseNatsUrls(raw);
      if ('bad' in r) return { error: `not a NATS URL${r.bad === raw ? '' : ` (${JSON.stringify(r.bad)})`}` };
      return r.urls.length ? { value: Object.freeze(r.urls) } : { error: 'no NATS URL in the list' };
    },
  }),
  spec({
    name: 'ATTNFIT_NATS_USER',
    key: 'natsUser',
    values: 'user name',
    default: 'unset',
    effect: 'NATS user when `--user` is absent.',
    parse: text,
  }),
  spec({
    name: 'ATTNFIT_NATS_PASS',
    key: 'natsPass',
    values: 'password',
    default: 'unset',
    effect: 'NATS password when `--pass` is absent.',
    parse: text,
  }),
  spec({
    name: 'ATTNFIT_NATS_CREDS',
    key: 'natsCreds',
    values: 'path of a `.creds` file',
    default: 'unset',
    effect: 'NATS credentials file when neither `--creds` nor `--user` is given; it wins over ATTNFIT_NATS_USER.',
    parse: text,
  }),
  spec({
    name: 'ATTNFIT_CLUSTER_DIR',
    key: 'clusterDir',
    values: 'directory',
    default: '`.attnfit-cluster`',
    effect:
      'Default `--dir` of `cluster up` and `cluster down`; other commands read the server URL from its `context.json` (lowest precedence).',
    parse: text,
  }),
  spec({
    name: 'ATTNFIT_UPLOAD_PART_SIZE',
    key: 'uploadPartBytes',
    values: 'byte size (`8MiB`, `512KiB`, `4096`; at least 1KiB)',
    default: '`8MiB`',
    effect:
      '`submit` and `solve --nats` upload a problem in parts of this size (each its own object with its own digest, a manifest last); an interrupted upload resumes at the first part missing or not verified.',
    parse: (raw) => parseByteSize(raw, 1024),
  }),
  spec({
    name: 'ATTNFIT_WORKER_PROBLEM_MEMORY',
    key: 'workerProblemBytes',
    values: 'byte size (`6GiB`, `512MiB`, …)',
    default: 'unset: the free memory when the problem is fetched',
    effect:
      'A worker refuses (`TOO_LARGE`) a problem whose fetch and in-memory copy (about 2 × 32·n·d bytes) exceed this, instead of running out of memory; the job fails with that error when no worker can hold it.',
    parse: (raw) => parseByteSize(raw, 1),
  }),
] as const);

type Env = Record<string, string | undefined>;

function processEnv(): Env {
  return (globalThis as { process?: { env?: Env } }).process?.env ?? {};
}

const BY_KEY = new Map<keyof AttnfitConfig, EnvVarSpec>(ENV_VARS.map((s) => [s.key, s as EnvVarSpec]));

/**
 * One setting from the environment: its default when the variable is unset or empty; an
 * AttnfitError BAD_OPTION naming the variable and the value when the value is bad.
 * @example readEnv('gemm') // 'ts' with ATTNFIT_GEMM=ts
 */
export function readEnv<K extends keyof AttnfitConfig>(key: K, env: Env = processEnv()): AttnfitConfig[K] {
  const s = BY_KEY.get(key) as EnvVarSpec<K> | undefined;
  if (!s) throw new AttnfitError(ErrorCodes.INTERNAL, `readEnv: unknown setting ${JSON.stringify(key)}`);
  const raw = env[s.name]?.trim();
  if (raw === undefined || raw === '') return CONFIG_DEFAULTS[key];
  const r = s.parse(raw);
  if ('error' in r) {
    throw new AttnfitError(ErrorCodes.BAD_OPTION, `${s.name}: ${r.error} (got ${formatValue(env[s.name])})`, {
      details: { field: s.name, value: env[s.name] },
    });
  }
  return r.value;
}

/**
 * Like {@link readEnv}, but a bad value gives the default instead of an error. Only for code
 * that must not fail (the error printer); everything else uses readEnv.
 */
export function readEnvOr<K extends keyof AttnfitConfig>(key: K, env: Env = processEnv()): AttnfitConfig[K] {
  try {
    return readEnv(key, env);
  } catch {
    return CONFIG_DEFAULTS[key];
  }
}

/**
 * Every setting, validated (the CLI calls this first, so a bad variable exits 2 before any work).
 * @example const cfg = readConfig(); if (cfg.debug) …
 */
export function readConfig(env: Env = processEnv()): AttnfitConfig {
  const out: Record<string, unknown> = {};
  for (const s of ENV_VARS) out[s.key] = readEnv(s.key, env);
  return Object.freeze(out) as unknown as AttnfitConfig;
}
