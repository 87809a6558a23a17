#!/usr/bin/env node
// Row-subsampled screening of the fit-from-scratch search (issue 10): the default search against
// the same search with its first halving round(s) on a subset of the query rows, on planted
// problems and the recorded trained layers, one thread each, capped by evaluations (full-row
// equivalents, deterministic: the fit/no-fit outcome and the evaluation counts do not depend on
// the machine's load; the seconds do).
//
// Usage: node bench/screen.mjs [--cases planted-s1-d8,planted-s2-d8,trained-sh-d8-n1024,...]
//          [--seeds N] [--max-evals E] [--configs default,screen] [--n 1024]
// Prints one JSON line per run, then a markdown table.
import { join } from 'node:path';
import { loadProblem } from '@attnfit/shared/io';
import { LocalOracle, solve } from '@attnfit/coordinator/internal';
import { plantedProblem } from '../coordinator/dist/cli/commands/generate.js';
import { repoDir } from './lib/common.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const k = argv.indexOf(name);
  return k >= 0 ? argv[k + 1] : def;
};
const CASES = opt('--cases', 'planted-s1-d8,planted-s2-d8,trained-sh-d8-n256,trained-sh-d8-n1024').split(',');
const SEEDS = Number(opt('--seeds', 4));
const MAX_EVALS = Number(opt('--max-evals', 3000));
const N = Number(opt('--n', 1024));
const CONFIGS = {
  default: {},
  screen: { screenRows: 0.25, screenRounds: 1 },
  screen2: { screenRows: 0.25, screenRounds: 2 },
  screenwide: { screenRows: 0.25, screenRounds: 1, randomPerSpread: 3 },
  screenlong: { screenRows: 0.25, screenRounds: 1, rounds: [12, 12] },
  screenlongwide: { screenRows: 0.25, screenRounds: 1, rounds: [12, 12], randomPerSpread: 3 },
};
const configs = opt('--configs', 'default,screen').split(',');
for (const c of configs) if (!CONFIGS[c]) throw new Error(`unknown config ${c}`);

/** The problems of a case: [problem, solver seed] pairs. */
async function problems(name) {
  const m = /^planted-s(\d+)-d(\d+)$/.exec(name);
  if (m) return Array.from({ length: SEEDS }, (_, k) => [plantedProblem(N, Number(m[2]), k + 1, Number(m[1])), 1]);
  const t = /^trained-(.+)$/.exec(name);
  if (!t) throw new Error(`unknown case ${name}`);
  const p = await loadProblem(join(repoDir, 'bench', 'fixtures', 'layers', t[1]));
  return Array.from({ length: SEEDS }, (_, k) => [p, k + 1]);
}

const rows = [];
for (const name of CASES) {
  const ps = await problems(name);
  for (let k = 0; k < ps.length; k++) {
    // Interleaved: every config on this problem before the next problem.
    for (const cfg of configs) {
      const [p, seed] = ps[k];
      const oracle = new LocalOracle(p, { threads: 1 });
      const t0 = performance.now();
      const r = await solve(oracle, { seed, search: { ...CONFIGS[cfg], maxEvals: MAX_EVALS } });
      const seconds = (performance.now() - t0) / 1000;
      await oracle.close();
      const s = r.search;
      const row = {
        case: name,
        problem: k + 1,
        seed,
        config: cfg,
        fit: r.relLoss <= 1e-10,
        relLoss: r.relLoss,
        evals: s.evaluations,
        screenEvals: s.screen.evaluations,
        equivalent: Math.round(s.screen.equivalentEvaluations),
        starts: s.starts.length,
        stop: s.stopReason,
        seconds: Number(seconds.toFixed(2)),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
}
console.log('\n| case | config | fits | median rel. loss | median equiv. evals (fits) | median seconds |');
console.log('| --- | --- | --- | --- | --- | --- |');
const med = (a) => {
  if (a.length === 0) return '—';
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor((s.length - 1) / 2)];
};
for (const name of CASES)
  for (const cfg of configs) {
    const rs = rows.filter((r) => r.case === name && r.config === cfg);
    const fits = rs.filter((r) => r.fit);
    console.log(
      `| ${name} | ${cfg} | ${fits.length}/${rs.length} | ${Number(med(rs.map((r) => r.relLoss))).toExponential(1)} | ${med(fits.map((r) => r.equivalent))} | ${med(rs.map((r) => r.seconds))} |`,
    );
  }
process.exit(0);
