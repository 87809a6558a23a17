#!/usr/bin/env node
// Layer check (run in CI before the tests). The ALLOWED table below is the rule: each layer may
// import only the layers listed for it — core and kernels nothing; math and dynamic kernels and
// core; io core and node:*; protocol core, node:* and msgpackr (not math); runtime core, math,
// protocol, node:*, piscina and the NATS transport; worker and coordinator any shared layer and
// npm packages, never each other. Fails on any import the table does not allow and on any import
// cycle between source files (docs/design.md §3.1). Usage: node scripts/check-layers.mjs [--root DIR]
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, resolve, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const root = resolve(args[0] === '--root' ? args[1] : join(dirname(fileURLToPath(import.meta.url)), '..'));

/** layer → layers it may import ('node' = node:* builtins; 'npm:NAME' third-party). */
export const ALLOWED = {
  'shared/core': [],
  // The one reader of ATTNFIT_* environment variables (no node:*: it reaches process.env through
  // globalThis). Everything may read its settings there, the kernels included (their GEMM switch).
  'shared/config': ['shared/core'],
  'shared/kernels': ['shared/config'],
  'shared/math': ['shared/kernels', 'shared/core', 'shared/config'],
  'shared/dynamic': ['shared/kernels', 'shared/core', 'shared/config'],
  'shared/io': ['shared/core', 'shared/config', 'node'],
  'shared/protocol': ['shared/core', 'shared/config', 'node', 'npm:msgpackr'],
  // Process-level building blocks both the worker and the coordinator use (NATS connect with
  // auth, the piscina block pool): below worker/coordinator, above protocol.
  'shared/runtime': [
    'shared/core',
    'shared/config',
    'shared/math',
    'shared/protocol',
    'node',
    'npm:piscina',
    'npm:@nats-io/transport-node',
  ],
  // The package's curated library entry (shared/src/index.ts): re-exports from the layers below.
  'shared/root': ['shared/core', 'shared/config', 'shared/io', 'shared/math', 'shared/dynamic'],
  worker: ['shared/*', 'node', 'npm:*'],
  coordinator: ['shared/*', 'node', 'npm:*'],
};

function layerOf(file) {
  const rel = relative(root, file).split(sep);
  if (rel[0] === 'shared' && rel[1] === 'src') return rel.length > 3 ? `shared/${rel[2]}` : 'shared/root';
  if ((rel[0] === 'worker' || rel[0] === 'coordinator') && rel[1] === 'src') return rel[0];
  return null;
}

function walk(dir) {
  if (!existsSync(dir)) return [];
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function targetLayer(spec, fromFile) {
  if (spec.startsWith('.')) {
    const p = resolve(dirname(fromFile), spec).replace(/\.js$/, '.ts');
    return { layer: layerOf(p), file: p };
  }
  if (spec.startsWith('node:')) return { layer: 'node' };
  const m = /^@attnfit\/(shared|worker|coordinator)(?:\/([^/]+))?/.exec(spec);
  if (m) return { layer: m[1] === 'shared' ? `shared/${m[2] ?? 'root'}` : m[1] };
  const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  return { layer: `npm:${pkg}` };
}

function allowed(from, to) {
  if (from === to) return true;
  const rules = ALLOWED[from];
  if (!rules) return false;
  return rules.some(
    (r) => r === to || (r.endsWith('/*') && to.startsWith(r.slice(0, -1))) || (r === 'npm:*' && to.startsWith('npm:')),
  );
}

const files = [
  ...walk(join(root, 'shared', 'src')),
  ...walk(join(root, 'worker', 'src')),
  ...walk(join(root, 'coordinator', 'src')),
];
const errors = [];
const graph = new Map();
for (const f of files) {
  const from = layerOf(f);
  const src = readFileSync(f, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const edges = [];
  for (const m of src.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    const t = targetLayer(spec, f);
    if (!from || !ALLOWED[from]) {
      errors.push(`${relative(root, f)}: file is outside every known layer`);
      break;
    }
    if (!allowed(from, t.layer))
      errors.push(`${relative(root, f)}: layer ${from} may not import '${spec}' (layer ${t.layer})`);
    if (t.file) edges.push(t.file);
  }
  graph.set(f, edges);
}
// Cycle detection over relative-import edges (iterative DFS, colours).
const colour = new Map();
const stack = [];
function dfs(start) {
  const work = [[start, 0]];
  colour.set(start, 1);
  stack.push(start);
  while (work.length) {
    const top = work[work.length - 1];
    const [node, i] = top;
    const edges = graph.get(node) ?? [];
    if (i < edges.length) {
      top[1]++;
      const next = edges[i];
      if (!graph.has(next)) continue;
      const c = colour.get(next) ?? 0;
      if (c === 1) {
        const cyc = stack
          .slice(stack.indexOf(next))
          .concat(next)
          .map((p) => relative(root, p));
        errors.push(`import cycle: ${cyc.join(' -> ')}`);
      } else if (c === 0) {
        colour.set(next, 1);
        stack.push(next);
        work.push([next, 0]);
      }
    } else {
      colour.set(node, 2);
      stack.pop();
      work.pop();
    }
  }
}
for (const f of files) if (!colour.get(f)) dfs(f);

if (errors.length) {
  console.error(`layer check: ${errors.length} violation(s)`);
  for (const e of errors) console.error(`  ${e}`);
  process.exit(1);
}
console.log(`layer check: ${files.length} files, no upward imports, no cycles`);
