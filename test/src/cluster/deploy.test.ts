/**
 * deploy/: every nats-server config passes `nats-server -t -c FILE` (2.9.10), passwords come
 * only from the environment, the permissions name the subjects and buckets the code uses, the
 * 3-node configs route to each other on loopback, and the systemd / Docker files refer to files
 * and CLI options that exist (docker cannot run here: static checks only).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CANCEL_SUBJECT,
  PROBLEMS_BUCKET,
  RESULTS_BUCKET,
  JOBS_BUCKET,
  JOBS_STREAM,
  JOB_DONE_SUBJECT,
  PROGRESS_PREFIX,
  SUBMIT_SUBJECT,
  TASK_SUBJECT,
} from '@attnfit/shared/protocol';
import { ROOT, SERVER_ENV, run } from './procs.js';

const DEPLOY = join(ROOT, 'deploy');
const CONFIGS = ['nats-server.conf', 'cluster/n1.conf', 'cluster/n2.conf', 'cluster/n3.conf'];
const read = (f: string) => readFileSync(join(DEPLOY, f), 'utf8');

function natsTest(file: string, env: Record<string, string | undefined>): { status: number | null; out: string } {
  const r = spawnSync('nats-server', ['-t', '-c', join(DEPLOY, file)], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('every nats-server config is valid (nats-server -t)', () => {
  for (const f of CONFIGS) {
    const r = natsTest(f, SERVER_ENV);
    assert.is(r.status, 0, `${f}: ${r.out}`);
    assert.match(r.out, /is valid/);
  }
});

test('passwords are not in the files: a missing ATTNFIT_*_PASS makes the config invalid', () => {
  const r = natsTest('nats-server.conf', { ...SERVER_ENV, ATTNFIT_WORKER_PASS: undefined });
  assert.not.equal(r.status, 0);
  assert.match(r.out, /ATTNFIT_WORKER_PASS/);
  assert.not.match(read('auth.conf'), /password:\s*"?[A-Za-z0-9]/);
});

test('permissions name the subjects and JetStream resources the code uses', () => {
  const auth = read('auth.conf');
  for (const s of [
    TASK_SUBJECT,
    SUBMIT_SUBJECT,
    CANCEL_SUBJECT,
    JOB_DONE_SUBJECT,
    `${PROGRESS_PREFIX}.>`,
    `KV_${JOBS_BUCKET}`,
    `OBJ_${PROBLEMS_BUCKET}`,
    `$O.${PROBLEMS_BUCKET}`,
    `OBJ_${RESULTS_BUCKET}`,
    `$O.${RESULTS_BUCKET}`,
    `$JS.ACK.${JOBS_STREAM}`,
  ]) {
    assert.ok(auth.includes(s), `auth.conf lacks ${s}`);
  }
  const block = (name: string) =>
    auth.slice(auth.indexOf(`${name} = {`), auth.indexOf('}\n\n', auth.indexOf(`${name} = {`)));
  // Workers may not publish job submissions; submitters may not subscribe to tasks.
  assert.not.ok(block('WORKER').includes(SUBMIT_SUBJECT));
  assert.not.ok(block('SUBMITTER').includes(`"${TASK_SUBJECT}"`));
  assert.match(block('WORKER'), /allow_responses/);
  for (const u of ['submitter', 'worker', 'coordinator']) assert.match(auth, new RegExp(`user: ${u},`));
});

test('3-node cluster configs: distinct names and ports, routes to all three on loopback, JetStream', () => {
  const names = new Set<string>(),
    listens = new Set<string>(),
    clusters = new Set<string>();
  for (const f of CONFIGS.slice(1)) {
    const c = read(f);
    names.add(/server_name:\s*(\S+)/.exec(c)![1]!);
    listens.add(/^listen:\s*"([^"]+)"/m.exec(c)![1]!);
    clusters.add(/cluster \{[\s\S]*?listen:\s*"([^"]+)"/.exec(c)![1]!);
    assert.match(c, /jetstream \{/);
    for (const port of [6222, 6223, 6224])
      assert.ok(c.includes(`nats-route://127.0.0.1:${port}`), `${f} lacks route ${port}`);
  }
  assert.is(names.size, 3);
  assert.is(listens.size, 3);
  assert.equal([...clusters].sort(), ['127.0.0.1:6222', '127.0.0.1:6223', '127.0.0.1:6224']);
  assert.match(read('nats-server.conf'), /# tls \{[\s\S]*cert_file/);
});

test('systemd units and Docker files refer to existing files and CLI options', async () => {
  for (const u of ['attnfit-nats.service', 'attnfit-coordinator.service', 'attnfit-worker@.service']) {
    const s = read(join('systemd', u));
    for (const sec of ['[Unit]', '[Service]', '[Install]']) assert.ok(s.includes(sec), `${u} lacks ${sec}`);
    assert.match(s, /^ExecStart=\S+/m);
    assert.match(s, /^KillSignal=SIGTERM$/m);
  }
  assert.match(read('systemd/attnfit-coordinator.service'), /attnfit\.js coordinator --nats/);
  assert.match(read('systemd/attnfit-worker@.service'), /attnfit\.js worker --nats \S+ --threads \S+ --name/);
  const help = await run(['worker', '--help']);
  for (const o of ['--nats', '--threads', '--name', '--user', '--pass', '--creds'])
    assert.ok(help.stdout.includes(o), `worker --help lacks ${o}`);
  const docker = read('Dockerfile');
  assert.match(docker, /^FROM node:20/m);
  for (const m of docker.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const src of m[1]!.split(/\s+/))
      assert.ok(existsSync(join(ROOT, src)), `Dockerfile COPY source ${src} missing`);
  }
  assert.match(docker, /ENTRYPOINT \["node", "\/opt\/attnfit\/coordinator\/bin\/attnfit\.js"\]/);
  const compose = read('compose.yaml');
  for (const f of ['./nats-server.conf', './auth.conf']) assert.ok(compose.includes(f) && existsSync(join(DEPLOY, f)));
  assert.match(compose, /dockerfile: deploy\/Dockerfile/);
  for (const cmd of ['coordinator', 'worker'])
    assert.match(compose, new RegExp(`command: \\["${cmd}", "--nats", "nats://nats:4222"\\]`));
});

test.run();
