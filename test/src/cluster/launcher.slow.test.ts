/**
 * `attnfit cluster up --workers 2 --dir D --port P` starts nats-server, a coordinator and two
 * workers on loopback (pids.json, logs/, context.json for later commands); a job submitted to it succeeds; `cluster down` stops
 * every process.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/nats-server.js';
import { run } from './procs.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('cluster up → submit --wait → cluster down', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'attnfit-up-'));
  const state = join(dir, 'state');
  let pids: { url: string; nats: number; coordinator: number; workers: number[] } | undefined;
  try {
    const port = await freePort();
    const up = await run(['cluster', 'up', '--workers', '2', '--threads', '1', '--dir', state, '--port', String(port)]);
    assert.is(up.code, 0, up.out);
    pids = JSON.parse(up.stdout) as typeof pids & object;
    assert.is(pids.url, `nats://127.0.0.1:${port}`);
    assert.is(pids.workers.length, 2);
    for (const pid of [pids.nats, pids.coordinator, ...pids.workers]) assert.ok(alive(pid), `pid ${pid} not running`);
    assert.ok(existsSync(join(state, 'logs', 'worker-2.log')));
    // the context file: later commands find the server without --nats
    const ctx = JSON.parse(readFileSync(join(state, 'context.json'), 'utf8')) as { version: number; url: string };
    assert.equal([ctx.version, ctx.url], [1, pids.url]);
    const jobs = await run(['jobs'], { ATTNFIT_CLUSTER_DIR: state, ATTNFIT_NATS_URL: '' });
    assert.is(jobs.code, 0, jobs.out);
    const again = await run(['cluster', 'up', '--dir', state, '--port', String(port)]);
    assert.is(again.code, 2);
    assert.match(again.out, /already running/);

    const gen = await run(['generate', '--n', '64', '--d', '2', '--seed', '1', '--out', join(dir, 'p')]);
    assert.is(gen.code, 0, gen.out);
    const sub = await run([
      'submit',
      join(dir, 'p'),
      '--nats',
      pids.url,
      '--max-iter',
      '5',
      '--max-evals',
      '120',
      '--wait',
      '--out',
      join(dir, 'out'),
    ]);
    assert.is(sub.code, 0, sub.out);
    assert.ok(existsSync(join(dir, 'out', 'X.npy')));
    assert.match(readFileSync(join(dir, 'out', 'report.json'), 'utf8'), /"oracle": "nats"/);

    // A synchronous `solve --nats` on the same workers equals the local solve bit for bit — here
    // the fit-from-scratch search (no --x0), capped by evaluations so it stays deterministic.
    const viaNats = await run([
      'solve',
      join(dir, 'p'),
      '--nats',
      pids.url,
      '--max-iter',
      '5',
      '--max-evals',
      '120',
      '--out',
      join(dir, 'solve-nats'),
    ]);
    assert.is(viaNats.code, 0, viaNats.out);
    const local = await run([
      'solve',
      join(dir, 'p'),
      '--threads',
      '1',
      '--max-iter',
      '5',
      '--max-evals',
      '120',
      '--out',
      join(dir, 'solve-local'),
    ]);
    assert.is(local.code, 0, local.out);
    assert.ok(
      readFileSync(join(dir, 'solve-nats', 'X.npy')).equals(readFileSync(join(dir, 'solve-local', 'X.npy'))),
      'solve --nats X.npy equals local',
    );
    assert.ok(
      readFileSync(join(dir, 'out', 'X.npy')).equals(readFileSync(join(dir, 'solve-local', 'X.npy'))),
      'submitted job X.npy equals local',
    );
    assert.match(readFileSync(join(dir, 'solve-nats', 'report.json'), 'utf8'), /"oracle": "nats"/);
    const badUrl = await run(['solve', join(dir, 'p'), '--nats', 'http://x y', '--out', join(dir, 'solve-bad')]);
    assert.is(badUrl.code, 2);
    assert.match(badUrl.out, /attnfit: error \[BAD_OPTION\]: --nats: not a NATS URL/);
    assert.not.ok(existsSync(join(dir, 'solve-bad')));

    const down = await run(['cluster', 'down', '--dir', state]);
    assert.is(down.code, 0, down.out);
    assert.match(down.stdout, /stopped 2 worker/);
    for (const pid of [pids.nats, pids.coordinator, ...pids.workers])
      assert.not.ok(alive(pid), `pid ${pid} still running`);
    assert.not.ok(existsSync(join(state, 'context.json')), 'cluster down removes the context');
    const down2 = await run(['cluster', 'down', '--dir', state]);
    assert.is(down2.code, 2);
    assert.match(down2.out, /\[NOT_FOUND\]/);
  } finally {
    if (pids)
      for (const pid of [...pids.workers, pids.coordinator, pids.nats]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
