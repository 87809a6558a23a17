/** CLI error reporting: `attnfit: error [CODE]: message`, exit 2 for bad input, 1 otherwise. */
import { readEnvOr } from '@attnfit/shared/config';
import { AttnfitError } from '@attnfit/shared/core';

/** Print an error the way users and scripts rely on, and return the exit code. */
export function reportError(err: unknown, stderr: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof AttnfitError) {
    stderr(`attnfit: error [${err.code}]: ${err.message}\n`);
    // readEnvOr: the error being printed may be the bad ATTNFIT_DEBUG value itself.
    if (readEnvOr('debug') && err.stack) stderr(`${err.stack}\n`);
    return err.isInputError ? 2 : 1;
  }
  const e = err as Error;
  stderr(`attnfit: error [INTERNAL]: ${e?.message ?? String(err)}\n`);
  if (e?.stack) stderr(`${e.stack}\n`);
  return 1;
}
