import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = join(repo, 'scripts', 'check-layers.mjs');

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'attnfit-layers-'));
  for (const [p, src] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), src);
  }
  return root;
}

function check(root: string) {
  return spawnSync(process.execPath, [script, '--root', root], { encoding: 'utf8' });
}

test('the repository itself passes the layer check', () => {
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test('an upward import (kernels -> math) fails the check and names the file', () => {
  const root = tree({
    'shared/src/kernels/a.ts': "import { f } from '../math/b.js';\nexport const a = f;\n",
    'shared/src/math/b.ts': 'export const f = 1;\n',
  });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.is(r.status, 1);
  assert.match(r.stderr, /shared\/src\/kernels\/a\.ts: layer shared\/kernels may not import '..\/math\/b\.js'/);
});

test('coordinator importing the worker package fails; node:* in kernels fails', () => {
  const root = tree({
    'coordinator/src/x.ts': "import { y } from '@attnfit/worker';\nexport const x = y;\n",
    'shared/src/kernels/k.ts': "import { readFileSync } from 'node:fs';\nexport const k = readFileSync;\n",
  });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.is(r.status, 1);
  assert.match(r.stderr, /layer coordinator may not import '@attnfit\/worker'/);
  assert.match(r.stderr, /layer shared\/kernels may not import 'node:fs'/);
});

test('an import cycle between files is reported', () => {
  const root = tree({
    'shared/src/math/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
    'shared/src/math/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
  });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.is(r.status, 1);
  assert.match(
    r.stderr,
    /import cycle: shared\/src\/math\/a\.ts -> shared\/src\/math\/b\.ts -> shared\/src\/math\/a\.ts/,
  );
});

test.run();
