/** Run the attnfit CLI (coordinator/bin/attnfit.js) as a child process, for end-to-end tests. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of the CLI launcher. */
export const BIN = fileURLToPath(new URL('../../../coordinator/bin/attnfit.js', import.meta.url));

export interface CliResult { code: number; stdout: string; stderr: string }

/** Run `attnfit ...args` to completion; resolves with exit code, stdout and stderr. */
export function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
