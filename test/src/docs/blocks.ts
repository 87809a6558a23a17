/**
 * The shell blocks of the documentation that the doc-test runs (readme-blocks.slow.test.ts).
 *
 * A Markdown file marks what is tested with HTML comments, so prose edits cannot silently drop a
 * block from testing:
 *
 * - `<!-- doctest:begin NAME -->` … `<!-- doctest:end NAME -->` delimit a region. Every fenced
 *   block inside must say what it is: `sh` (also `bash`, `shell`) is run, `text` is not (a
 *   synopsis or sample output). A fence without one of those info strings is an error.
 * - `<!-- doctest:instead ID -->` right before an `sh` fence (blank lines between are fine): the
 *   test runs its own step ID instead of the block as written (e.g. it starts nats-server itself);
 *   the test knows each ID, checks the block's text and fails on an unknown one.
 *
 * Unbalanced or nested markers, a directive not followed by a fence, or an unclosed fence throw.
 * Regions with no runnable block are returned empty: the test fails on them.
 */

/** One fenced shell block of a region. */
export interface DocBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The block's text (without fences), ending in a newline. */
  readonly text: string;
  /** The test's step run instead of this block (`doctest:instead ID`), if any. */
  readonly instead?: string;
}

/** One `doctest:begin/end` region. */
export interface DocRegion {
  readonly name: string;
  /** 1-based line of the begin marker. */
  readonly line: number;
  /** Its runnable blocks, in document order. */
  readonly blocks: DocBlock[];
}

const SHELL = new Set(['sh', 'bash', 'shell']);
const NOT_RUN = new Set(['text']);
const MARKER = /^\s*<!--\s*doctest:(begin|end|instead)\s+(\S+)\s*-->\s*$/;
const OTHER_MARKER = /^\s*<!--\s*doctest:/;
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** Whether `line` closes a fence opened with `mark` (same character, at least as many). */
function closes(line: string, mark: string): boolean {
  const m = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
  return !!m && m[1]![0] === mark[0] && m[1]!.length >= mark.length;
}

/** The doctest regions of `markdown` (`file` names it in errors), in document order. */
export function extractRegions(markdown: string, file: string): DocRegion[] {
  const lines = markdown.split('\n');
  const regions: DocRegion[] = [];
  let region: { name: string; line: number; blocks: DocBlock[] } | undefined;
  let instead: { id: string; line: number } | undefined;
  const where = (i: number) => `${file}:${i + 1}`;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const fence = FENCE.exec(l);
    if (fence) {
      const mark = fence[1]!;
      const info = fence[2]!.trim().split(/\s+/)[0] ?? '';
      let end = i + 1;
      while (end < lines.length && !closes(lines[end]!, mark)) end++;
      if (end >= lines.length) throw new Error(`${where(i)}: the code fence is never closed`);
      if (region) {
        if (SHELL.has(info)) {
          region.blocks.push({
            line: i + 1,
            text: lines.slice(i + 1, end).join('\n') + '\n',
            ...(instead ? { instead: instead.id } : {}),
          });
        } else if (NOT_RUN.has(info)) {
          if (instead) throw new Error(`${where(instead.line)}: doctest:instead ${instead.id} before a \`text\` block`);
        } else {
          throw new Error(
            `${where(i)}: a fenced block in doctest region ${region.name} needs the info string sh (run by the doc-test) or text (not run), not "${info}"`,
          );
        }
      } else if (instead) {
        throw new Error(`${where(instead.line)}: doctest:instead ${instead.id} outside a doctest region`);
      }
      instead = undefined;
      i = end;
      continue;
    }
    const m = MARKER.exec(l);
    if (!m) {
      if (OTHER_MARKER.test(l)) throw new Error(`${where(i)}: unknown doctest marker: ${l.trim()}`);
      if (instead && l.trim() !== '')
        throw new Error(`${where(instead.line)}: doctest:instead ${instead.id} is not followed by a code block`);
      continue;
    }
    const [, kind, name] = m as unknown as [string, string, string];
    if (instead)
      throw new Error(`${where(instead.line)}: doctest:instead ${instead.id} is not followed by a code block`);
    if (kind === 'begin') {
      if (region) throw new Error(`${where(i)}: doctest:begin ${name} inside region ${region.name}`);
      region = { name, line: i + 1, blocks: [] };
    } else if (kind === 'end') {
      if (!region || region.name !== name)
        throw new Error(`${where(i)}: doctest:end ${name} without doctest:begin ${name}`);
      regions.push(region);
      region = undefined;
    } else {
      instead = { id: name, line: i };
    }
  }
  if (instead) throw new Error(`${where(instead.line)}: doctest:instead ${instead.id} is not followed by a code block`);
  if (region) throw new Error(`${file}:${region.line}: doctest:begin ${region.name} is never ended`);
  return regions;
}
