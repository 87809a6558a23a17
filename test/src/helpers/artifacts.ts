/** Where tests put artefacts (screenshots): $TEST_ARTIFACTS or test/artifacts/ (git-ignored). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function artifactsDir(): string {
  const dir = process.env.TEST_ARTIFACTS || join(fileURLToPath(new URL('../../', import.meta.url)), 'artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}
