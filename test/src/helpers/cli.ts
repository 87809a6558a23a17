/** Run the attnfit CLI (coordinator/bin/attnfit.js) as a child process, for end-to-end tests. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of the CLI launcher. */
export const BIN = fileURLToPath(new URL('../../../coordinator/bin/attnfit.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where and with what environment to run: `env` is added to this process's environment (undefined removes a variable). */
export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Run `attnfit ...args` to completion; resolves with exit code, stdout and stderr. */
export function cli(...args: string[]): Promise<CliResult> {
  return cliWith({}, ...args);
}

/** {@link cli} with extra environment variables and / or a working directory. */
export function cliWith(o: CliOptions, ...args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(o.env ?? {}))
    if (v === undefined) delete env[k];
    else env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      ...(o.cwd ? { cwd: o.cwd } : {}),
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
