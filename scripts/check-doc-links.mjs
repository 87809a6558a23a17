#!/usr/bin/env node
// Checks that every relative link in the repository's Markdown documentation resolves: README.md,
// CHANGELOG.md, docs/*.md and bench/results/README.md. A link's path must exist (file or
// directory); a `#fragment` pointing into a Markdown file must match one of its headings
// (GitHub's anchor rules: lower case, punctuation dropped, spaces → '-', repeats get -1, -2, …).
// External links (http:, https:, mailto:) are not fetched. Links inside code spans and fenced
// code blocks are ignored.
// Usage: node scripts/check-doc-links.mjs [--allow-missing PATH]…   (exit 1 on a broken link)
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const allowMissing = new Set();
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--allow-missing' && args[i + 1]) allowMissing.add(args[++i]);
  else {
    console.error(`check-doc-links: unknown argument ${args[i]}`);
    process.exit(2);
  }
}

const files = ['README.md', 'CHANGELOG.md', 'bench/results/README.md'];
if (existsSync(join(root, 'docs'))) {
  for (const f of readdirSync(join(root, 'docs')).sort()) if (f.endsWith('.md')) files.push(`docs/${f}`);
}

/** Markdown text without fenced code blocks and code spans (replaced by blanks, lines kept). */
function stripCode(text) {
  return text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/`[^`\n]*`/g, (m) => ' '.repeat(m.length));
}

/** GitHub-style anchors of a Markdown file's headings. */
const anchorCache = new Map();
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const seen = new Map(),
    out = new Set();
  const text = readFileSync(file, 'utf8').replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of text.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const base = m[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
      .replace(/<[^>]+>/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const k = seen.get(base) ?? 0;
    seen.set(base, k + 1);
    out.add(k === 0 ? base : `${base}-${k}`);
  }
  anchorCache.set(file, out);
  return out;
}

const errors = [];
let checked = 0;
for (const f of files) {
  const abs = join(root, f);
  if (!existsSync(abs)) {
    errors.push(`${f}: file missing`);
    continue;
  }
  const text = stripCode(readFileSync(abs, 'utf8'));
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    for (const m of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [pathPart, frag] = target.split('#', 2);
      const dest = pathPart === '' ? abs : resolve(dirname(abs), decodeURIComponent(pathPart));
      const rel = relative(root, dest);
      const where = `${f}:${i + 1}: (${target})`;
      if (!existsSync(dest)) {
        if (!allowMissing.has(rel)) errors.push(`${where}: ${rel} does not exist`);
        continue;
      }
      if (frag !== undefined && frag !== '' && statSync(dest).isFile() && dest.endsWith('.md')) {
        if (!anchorsOf(dest).has(frag)) errors.push(`${where}: no heading with anchor #${frag} in ${rel}`);
      }
    }
  });
}

for (const e of errors) console.error(e);
console.log(`check-doc-links: ${files.length} files, ${checked} relative links, ${errors.length} broken`);
process.exit(errors.length ? 1 : 0);
