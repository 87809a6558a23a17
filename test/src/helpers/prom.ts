/**
 * A small parser of the Prometheus text exposition format (version 0.0.4) for tests: HELP/TYPE
 * lines, samples with labels (escaped \\ \" \n), values including NaN/+Inf. Throws on any line it
 * cannot read, so "parses as Prometheus text" is a real check.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`);
const LABEL_RE = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function parseValue(v: string, line: string): number {
  // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes "Nan").
  if (/^\+?inf(inity)?$/i.test(v)) return Infinity;
  if (/^-inf(inity)?$/i.test(v)) return -Infinity;
  if (/^nan$/i.test(v)) return NaN;
  const x = Number(v);
  if (!Number.isFinite(x) && !/^[+-]?\d/.test(v)) throw new Error(`bad value in: ${line}`);
  return x;
}

function parseLabels(s: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL_RE.lastIndex = 0;
  while (LABEL_RE.lastIndex < s.length) {
    const m = LABEL_RE.exec(s);
    if (!m) throw new Error(`bad labels in: ${line}`);
    out[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '') break;
  }
  return out;
}

/** Parse the whole exposition; families by name (histogram/summary samples under their family). */
export function parseProm(text: string): Map<string, Family> {
  const fams = new Map<string, Family>();
  const fam = (name: string): Family => {
    let f = fams.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      fams.set(name, f);
    }
    return f;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (m) {
      if (m[1] === 'HELP') fam(m[2]!).help = m[3]!;
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!))
          throw new Error(`bad TYPE: ${line}`);
        fam(m[2]!).type = m[3]!;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const base = fams.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    fam(fams.has(base) ? base : name).samples.push({
      name,
      labels: m[2] ? parseLabels(m[2], line) : {},
      value: parseValue(m[3]!, line),
    });
  }
  return fams;
}

/** The value of the sample `name` whose labels include `labels` (undefined when absent). */
export function value(
  fams: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of fams.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

/** Sum of every sample called `name`. */
export function sum(fams: Map<string, Family>, name: string): number {
  let t = 0;
  for (const f of fams.values()) for (const s of f.samples) if (s.name === name) t += s.value;
  return t;
}

/** GET url and parse it. */
export async function scrape(url: string): Promise<Map<string, Family>> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status}`);
  const type = r.headers.get('content-type') ?? '';
  if (!/^text\/plain; version=0\.0\.4/.test(type)) throw new Error(`GET ${url}: content-type ${type}`);
  return parseProm(await r.text());
}
