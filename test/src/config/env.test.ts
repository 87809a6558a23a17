// The config module is the one reader of ATTNFIT_* variables and docs/environment.md is their one
// table: the table must list exactly the module's variables with the same values, default and
// effect; no other code may read an ATTNFIT_* variable; every ATTNFIT_* name in the repository is
// either the module's or a documented deploy variable; a bad value names the variable (exit 2).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_DEFAULTS, ENV_VARS, readConfig, readEnv, readEnvOr } from '@attnfit/shared/config';
import { AttnfitError } from '@attnfit/shared/core';
import { cliWith } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = join(ROOT, 'docs', 'environment.md');

/** Rows (cells of each line) of the first table after the heading `## <title>`. */
function tableAfter(md: string, title: string): string[][] {
  const at = md.indexOf(`\n## ${title}\n`);
  assert.ok(at >= 0, `docs/environment.md has no section "## ${title}"`);
  const lines = md.slice(at).split('\n').slice(2);
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  }
  return rows.slice(2); // header and separator
}

const md = readFileSync(DOC, 'utf8');
const mainTable = tableAfter(md, 'Variables attnfit reads');
const deployTable = tableAfter(md, 'Variables of the deploy configs (read by nats-server and systemd, not by attnfit)');
const rowOf = (s: (typeof ENV_VARS)[number]) => `| \`${s.name}\` | ${s.values} | ${s.default} | ${s.effect} |`;

test("docs/environment.md lists exactly the config module's variables, in order, with the same values, default and effect", () => {
  const want = ENV_VARS.map(rowOf);
  const got = mainTable.map((cells) => `| ${cells.join(' | ')} |`);
  assert.equal(
    got,
    want,
    `docs/environment.md's table differs from shared/src/config/env.ts; the module's rows are:\n${want.join('\n')}`,
  );
});

test('every variable has a default in the frozen CONFIG_DEFAULTS; readConfig() of an empty environment is the defaults', () => {
  assert.ok(Object.isFrozen(CONFIG_DEFAULTS));
  assert.ok(Object.isFrozen(ENV_VARS));
  assert.equal(Object.keys(CONFIG_DEFAULTS).sort(), ENV_VARS.map((s) => s.key).sort());
  assert.equal(new Set(ENV_VARS.map((s) => s.name)).size, ENV_VARS.length);
  for (const s of ENV_VARS) assert.match(s.name, /^ATTNFIT_[A-Z0-9_]+$/);
  assert.equal({ ...readConfig({}) }, { ...CONFIG_DEFAULTS });
  assert.equal(
    { ...readConfig({ ATTNFIT_GEMM: '  ', ATTNFIT_NATS_URL: '' }) },
    { ...CONFIG_DEFAULTS },
    'empty = unset',
  );
});

test('values are parsed: aliases, switches, URL lists, text', () => {
  const cfg = readConfig({
    ATTNFIT_GEMM: 'Native-BLAS',
    ATTNFIT_NATIVE: '0',
    ATTNFIT_WASM_FMA: 'false',
    ATTNFIT_NO_SAB: 'TRUE',
    ATTNFIT_DEBUG: '1',
    ATTNFIT_NATS_URL: 'nats://127.0.0.1:4222, 127.0.0.1:4223',
    ATTNFIT_NATS_USER: 'worker',
    ATTNFIT_NATS_PASS: ' s p ',
    ATTNFIT_NATS_CREDS: '/x/y.creds',
    ATTNFIT_CLUSTER_DIR: 'state',
    ATTNFIT_UPLOAD_PART_SIZE: '64KiB',
    ATTNFIT_WORKER_PROBLEM_MEMORY: '3g',
  });
  assert.equal(
    { ...cfg },
    {
      gemm: 'native',
      native: false,
      wasmFma: false,
      noSab: true,
      debug: true,
      natsUrl: ['nats://127.0.0.1:4222', '127.0.0.1:4223'],
      natsUser: 'worker',
      natsPass: 's p',
      natsCreds: '/x/y.creds',
      clusterDir: 'state',
      uploadPartBytes: 65536,
      workerProblemBytes: 3 * 1024 ** 3,
    },
  );
  assert.is(readEnv('uploadPartBytes', { ATTNFIT_UPLOAD_PART_SIZE: '4096' }), 4096);
  assert.is(readEnv('workerProblemBytes', { ATTNFIT_WORKER_PROBLEM_MEMORY: '1 MiB' }), 1024 ** 2);
  assert.is(readEnv('gemm', { ATTNFIT_GEMM: 'ts-ref' }), 'ref');
  assert.is(readEnv('gemm', { ATTNFIT_GEMM: 'wasm-simd' }), 'wasm');
  assert.is(readEnv('noSab', {}), false);
});

test('a bad value is BAD_OPTION naming the variable and the value; readEnvOr falls back to the default', () => {
  const bad: Record<string, string> = {
    ATTNFIT_GEMM: 'cuda',
    ATTNFIT_NATIVE: '2',
    ATTNFIT_WASM_FMA: 'yes',
    ATTNFIT_NO_SAB: 'on',
    ATTNFIT_DEBUG: 'verbose',
    ATTNFIT_NATS_URL: 'http://h:1',
    ATTNFIT_UPLOAD_PART_SIZE: '512',
    ATTNFIT_WORKER_PROBLEM_MEMORY: '2 TB',
  };
  for (const s of ENV_VARS) {
    const v = bad[s.name];
    if (v === undefined) continue;
    const err = (() => {
      try {
        readEnv(s.key, { [s.name]: v });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.instance(err, AttnfitError, s.name);
    const e = err as AttnfitError;
    assert.is(e.code, 'BAD_OPTION');
    assert.ok(e.message.startsWith(`${s.name}: `), e.message);
    assert.ok(e.message.endsWith(`(got ${JSON.stringify(v)})`), e.message);
    assert.equal(e.details, { field: s.name, value: v });
    assert.equal(readEnvOr(s.key, { [s.name]: v }), CONFIG_DEFAULTS[s.key]);
    assert.throws(
      () => readConfig({ [s.name]: v }),
      (x: unknown) => x instanceof AttnfitError && x.message.startsWith(s.name),
    );
  }
  assert.throws(
    () => readEnv('natsUrl', { ATTNFIT_NATS_URL: 'nats://a:1,bad url' }),
    /ATTNFIT_NATS_URL: not a NATS URL \("bad url"\)/,
  );
  assert.is(Object.keys(bad).filter((k) => !ENV_VARS.some((s) => s.name === k)).length, 0);
});

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'build' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs|cjs|sh|json|conf|yaml|yml|service)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SOURCE_DIRS = [
  'shared/src',
  'shared/native',
  'shared/scripts',
  'worker/src',
  'coordinator/src',
  'coordinator/bin',
  'scripts',
  'bench',
  'deploy',
  '.ci',
];
const sources = SOURCE_DIRS.flatMap((d) => walk(join(ROOT, d))).concat([
  join(ROOT, 'turbo.json'),
  join(ROOT, 'package.json'),
]);

test('every ATTNFIT_* name in the code and configs is a config variable or a documented deploy variable', () => {
  const known = new Set([...ENV_VARS.map((s) => s.name), ...deployTable.map((r) => r[0]!.replace(/`/g, ''))]);
  const NOT_VARIABLES = new Set(['ATTNFIT_JOBS']); // the JetStream stream name (shared/src/protocol/subjects.ts)
  const unknown: string[] = [];
  for (const f of sources) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bATTNFIT_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      if (!known.has(m[0]) && !NOT_VARIABLES.has(m[0])) unknown.push(`${relative(ROOT, f)}: ${m[0]}`);
    }
  }
  assert.equal(
    unknown,
    [],
    `undeclared ATTNFIT_* names (declare them in shared/src/config/env.ts and docs/environment.md):\n${unknown.join('\n')}`,
  );
  assert.ok(deployTable.length >= 3);
});

test('no code outside the config module reads an ATTNFIT_* variable from the environment', () => {
  const READ = /\benv\s*(\?\.|\.|\[\s*['"`])\s*ATTNFIT_|getenv\(\s*['"]ATTNFIT_/;
  const configDir = join(ROOT, 'shared', 'src', 'config');
  const readers = sources
    .filter((f) => !f.startsWith(configDir) && !/(^|\/)(deploy|\.ci)\//.test(relative(ROOT, f)))
    .filter((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .some((l) => READ.test(l)),
    );
  assert.equal(
    readers.map((f) => relative(ROOT, f)),
    [],
  );
});

test('the CLI exits 2 with one line naming the variable and the value, before doing anything', async () => {
  const cases: Array<[Record<string, string>, string[], RegExp]> = [
    [
      { ATTNFIT_GEMM: 'cuda' },
      ['--version'],
      /^attnfit: error \[BAD_OPTION\]: ATTNFIT_GEMM: must be one of wasm, ts, ref, native \(got "cuda"\)\n$/,
    ],
    [
      { ATTNFIT_NO_SAB: 'yes' },
      ['generate', '--n', '4', '--d', '2', '--out', join(ROOT, 'tmp', 'never-written')],
      /^attnfit: error \[BAD_OPTION\]: ATTNFIT_NO_SAB: must be 0 or 1 \(or true \/ false\) \(got "yes"\)\n$/,
    ],
    [
      { ATTNFIT_DEBUG: 'verbose' },
      ['jobs'],
      /^attnfit: error \[BAD_OPTION\]: ATTNFIT_DEBUG: must be 0 or 1 \(or true \/ false\) \(got "verbose"\)\n$/,
    ],
    [
      { ATTNFIT_NATS_URL: 'http://h:1' },
      ['status', 'J1'],
      /^attnfit: error \[BAD_OPTION\]: ATTNFIT_NATS_URL: not a NATS URL \(got "http:\/\/h:1"\)\n$/,
    ],
  ];
  for (const [env, args, re] of cases) {
    const r = await cliWith({ env }, ...args);
    assert.is(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.match(r.stderr, re);
  }
  assert.not.ok(readdirSync(ROOT).includes('tmp') && readdirSync(join(ROOT, 'tmp')).includes('never-written'));
});

test.run();
