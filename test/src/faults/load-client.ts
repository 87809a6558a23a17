/**
 * One client process of the load test (test/src/faults/load.slow.test.ts), run as
 * `node load-client.js URL OUT_JSON SEED…`: submits one small job per seed, all at once over one
 * connection, waits for every one, and writes `[{ seed, jobId, state, X, Y }]` to OUT_JSON
 * (numbers as JSON, which round-trips float64 exactly). Exit 0 when every job succeeded.
 */
import { writeFileSync } from 'node:fs';
import { ClusterClient } from '@attnfit/coordinator';
import { loadProblem } from './load-problem.js';

const [url, outFile, ...seeds] = process.argv.slice(2);
const client = await ClusterClient.connect({ servers: url! });
try {
  const results = await Promise.all(
    seeds.map(async (s) => {
      const seed = Number(s);
      const { problem, options } = loadProblem(seed);
      const { jobId } = await client.submit(problem, options, `load-${seed}`);
      const rec = await client.waitFor(jobId, { mustExist: false, timeoutMs: 150_000 });
      if (rec.state !== 'succeeded') return { seed, jobId, state: rec.state, error: rec.error };
      const res = await client.result(jobId);
      return { seed, jobId, state: rec.state, X: [...res.X], Y: [...res.Y] };
    }),
  );
  writeFileSync(outFile!, JSON.stringify(results));
  process.exitCode = results.every((r) => r.state === 'succeeded') ? 0 : 1;
} finally {
  await client.close();
}
