/**
 * One connection setting (docs/environment.md "Connection"): with a real nats-server, a
 * coordinator and a worker started with only ATTNFIT_NATS_URL, `submit`, `status JOB` and `jobs`
 * need no --nats; the context file of `cluster up` serves the commands run in its directory;
 * precedence is flag > env > context; `solve` stays local unless given `--nats` (bare: the env's
 * URL); bad or missing settings exit 2 naming the variable, the flag or the file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, freePort, type NatsServerHandle } from '../helpers/nats-server.js';
import { cliWith, type CliResult } from '../helpers/cli.js';
import { startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from './procs.js';

let server: NatsServerHandle;
let work: string;
let dead = ''; // a loopback URL nobody listens on
let jobId = '';
const procs: CliProc[] = [];
/** No connection setting from this test process leaks into the commands. */
const CLEAN = {
  ATTNFIT_NATS_URL: undefined,
  ATTNFIT_NATS_USER: undefined,
  ATTNFIT_NATS_PASS: undefined,
  ATTNFIT_NATS_CREDS: undefined,
  ATTNFIT_CLUSTER_DIR: undefined,
};

function attnfit(env: Record<string, string | undefined>, cwd: string, ...args: string[]): Promise<CliResult> {
  return cliWith({ env: { ...CLEAN, ...env }, cwd }, ...args);
}

function writeContext(dir: string, url: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'context.json'),
    JSON.stringify({ version: 1, url, dir, startedAt: new Date().toISOString() }),
  );
}

test.before(async () => {
  server = await startNatsServer();
  dead = `nats://127.0.0.1:${await freePort()}`;
  work = mkdtempSync(join(tmpdir(), 'attnfit-conn-'));
  const env = { ATTNFIT_NATS_URL: server.url };
  procs.push(await startCoordinatorProc([], env));
  procs.push(await startWorkerProc([], env));
  const gen = await attnfit({}, work, 'generate', '--n', '64', '--d', '2', '--seed', '3', '--out', 'p');
  assert.is(gen.code, 0, gen.stderr);
});

test.after(async () => {
  await stopAll(procs);
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('only ATTNFIT_NATS_URL set: submit --wait, status JOB and jobs work without --nats', async () => {
  const env = { ATTNFIT_NATS_URL: server.url };
  const sub = await attnfit(env, work, 'submit', 'p', '--max-iter', '3', '--wait', '--out', 'fit1');
  assert.is(sub.code, 0, sub.stderr);
  jobId = sub.stdout.trim();
  assert.match(jobId, /^[A-Za-z0-9_-]+$/);
  const st = await attnfit(env, work, 'status', jobId, '--json');
  assert.is(st.code, 0, st.stderr);
  const rec = JSON.parse(st.stdout) as { id: string; state: string };
  assert.is(rec.id, jobId);
  assert.is(rec.state, 'succeeded');
  const jobs = await attnfit(env, work, 'jobs');
  assert.is(jobs.code, 0, jobs.stderr);
  assert.match(jobs.stdout, new RegExp(`^${jobId}\\s+succeeded`, 'm'));
});

test('the context file of `cluster up` in the current directory (or ATTNFIT_CLUSTER_DIR) names the server', async () => {
  const here = join(work, 'ctx');
  writeContext(join(here, '.attnfit-cluster'), server.url);
  const st = await attnfit({}, here, 'status', jobId, '--json');
  assert.is(st.code, 0, st.stderr);
  assert.is((JSON.parse(st.stdout) as { id: string }).id, jobId);
  writeContext(join(work, 'elsewhere'), server.url);
  const viaDir = await attnfit({ ATTNFIT_CLUSTER_DIR: join(work, 'elsewhere') }, work, 'jobs', '--json');
  assert.is(viaDir.code, 0, viaDir.stderr);
  assert.ok((JSON.parse(viaDir.stdout) as Array<{ id: string }>).some((r) => r.id === jobId));
});

test('precedence: --nats over ATTNFIT_NATS_URL over the context', async () => {
  const here = join(work, 'prec');
  writeContext(join(here, '.attnfit-cluster'), dead);
  // context dead, env live → env wins
  const a = await attnfit({ ATTNFIT_NATS_URL: server.url }, here, 'status', jobId);
  assert.is(a.code, 0, a.stderr);
  // env dead, flag live → flag wins
  const b = await attnfit({ ATTNFIT_NATS_URL: dead }, here, 'status', jobId, '--nats', server.url);
  assert.is(b.code, 0, b.stderr);
  // env dead over a live context → the env's server is tried (and refused)
  writeContext(join(here, '.attnfit-cluster'), server.url);
  const c = await attnfit({ ATTNFIT_NATS_URL: dead }, here, 'status', jobId);
  assert.is(c.code, 1, c.stderr);
  assert.ok(c.stderr.startsWith(`attnfit: error [CONNECTION]: nats ${dead}: cannot connect`), c.stderr);
});

test('solve stays local with ATTNFIT_NATS_URL set; a bare --nats takes the env URL; results equal', async () => {
  const env = { ATTNFIT_NATS_URL: server.url };
  const local = await attnfit(
    env,
    work,
    'solve',
    'p',
    '--max-iter',
    '3',
    '--no-search',
    '--threads',
    '1',
    '--out',
    'local',
  );
  assert.is(local.code, 0, local.stderr);
  const remote = await attnfit(
    env,
    work,
    'solve',
    'p',
    '--nats',
    '--max-iter',
    '3',
    '--no-search',
    '--progress',
    'progress.jsonl',
    '--out',
    'remote',
  );
  assert.is(remote.code, 0, remote.stderr);
  const report = (d: string) =>
    JSON.parse(readFileSync(join(work, d, 'report.json'), 'utf8')) as {
      oracle: string;
      traffic?: { bytesReceived: number };
    };
  assert.is(report('local').oracle, 'local');
  assert.is(report('remote').oracle, 'nats');
  // The progress lines and report.json carry the bytes moved per iteration (cluster only).
  const lines = readFileSync(join(work, 'progress.jsonl'), 'utf8').trim().split('\n');
  const received = lines.map((l) => (JSON.parse(l) as { bytesReceived: number }).bytesReceived);
  assert.ok(received.length >= 2 && received.every((b) => b > 0), lines.join('\n'));
  assert.ok(report('remote').traffic!.bytesReceived >= received.reduce((a, b) => a + b, 0));
  assert.is(report('local').traffic, undefined);
  assert.ok(readFileSync(join(work, 'local', 'X.npy')).equals(readFileSync(join(work, 'remote', 'X.npy'))));
  const none = await attnfit({}, work, 'solve', 'p', '--nats', '--out', 'never');
  assert.is(none.code, 2);
  assert.match(none.stderr, /^attnfit: error \[USAGE\]: --nats: a NATS server URL is required/);
});

test('missing or bad settings: USAGE without any server, BAD_OPTION naming the variable, BAD_FILE naming the context, FILE_NOT_FOUND naming ATTNFIT_NATS_CREDS', async () => {
  const empty = join(work, 'empty');
  mkdirSync(empty, { recursive: true });
  for (const cmd of [
    ['status', 'J'],
    ['jobs'],
    ['worker'],
    ['coordinator'],
    ['dynamic', 'serve'],
    ['cancel', 'J'],
    ['result', 'J', '--out', 'o'],
  ]) {
    const r = await attnfit({}, empty, ...cmd);
    assert.is(r.code, 2, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^attnfit: error \[USAGE\]: --nats: a NATS server URL is required \(e\.g\. --nats nats:\/\/127\.0\.0\.1:4222, or env ATTNFIT_NATS_URL, or `attnfit cluster up` in this directory\)\n$/,
      cmd.join(' '),
    );
  }
  const bad = await attnfit({ ATTNFIT_NATS_URL: 'nats://a b' }, empty, 'jobs');
  assert.is(bad.code, 2);
  assert.is(bad.stderr, 'attnfit: error [BAD_OPTION]: ATTNFIT_NATS_URL: not a NATS URL (got "nats://a b")\n');
  const badFlag = await attnfit({ ATTNFIT_NATS_URL: server.url }, empty, 'jobs', '--nats', 'http://x');
  assert.is(badFlag.code, 2);
  assert.is(badFlag.stderr, 'attnfit: error [BAD_OPTION]: --nats: not a NATS URL (got "http://x")\n');
  writeFileSync(join(empty, 'context.json'), '{"version": 1, "url": 42}');
  const badCtx = await attnfit({ ATTNFIT_CLUSTER_DIR: empty }, empty, 'jobs');
  assert.is(badCtx.code, 2);
  assert.match(badCtx.stderr, /^attnfit: error \[BAD_FILE\]: .*empty\/context\.json: not a cluster context/);
  const creds = await attnfit(
    { ATTNFIT_NATS_URL: server.url, ATTNFIT_NATS_CREDS: join(empty, 'none.creds') },
    empty,
    'jobs',
  );
  assert.is(creds.code, 2);
  assert.match(creds.stderr, /^attnfit: error \[FILE_NOT_FOUND\]: ATTNFIT_NATS_CREDS: cannot read ".*none\.creds"/);
  // --user wins over the creds variable (the test server has no auth, so any user connects)
  const user = await attnfit(
    { ATTNFIT_NATS_URL: server.url, ATTNFIT_NATS_CREDS: join(empty, 'none.creds') },
    empty,
    'jobs',
    '--user',
    'someone',
    '--pass',
    'any', // an empty password is refused before connecting (see the empty-password test)
  );
  assert.is(user.code, 0, user.stderr);
});

test.run();
