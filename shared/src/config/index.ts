export { CONFIG_DEFAULTS, ENV_VARS, NATS_URL_RE, parseNatsUrls, readConfig, readEnv, readEnvOr } from './env.js';
export type { AttnfitConfig, EnvVarSpec, GemmChoice } from './env.js';
