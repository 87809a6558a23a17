/**
 * The auth matrix: every deploy user (deploy/auth.conf: submitter, worker, coordinator; plus no
 * credentials and a wrong password) × every command that talks to NATS, against a real
 * nats-server started with deploy's authorization config. Each cell is either "allowed" (the
 * command does its work: exit 0, or a service reports ready) or "refused": exit 2 with
 * `attnfit: error [AUTH]: …` — naming the user and the subject for a permission violation —
 * never a hang (each run is bounded by a watchdog far above the expected time; the point is
 * that a refusal comes from the server's first answer, not a task timeout).
 * Also: an empty password is refused before connecting (BAD_OPTION naming --pass / the variable).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import {
  PASSWORDS,
  SERVER_ENV,
  cli,
  includeAuth,
  run,
  startCoordinatorProc,
  startWorkerProc,
  stopAll,
  type CliProc,
} from './procs.js';

type Who = 'submitter' | 'worker' | 'coordinator' | 'none' | 'wrong';
const WHO: readonly Who[] = ['submitter', 'worker', 'coordinator', 'none', 'wrong'];
type Action =
  'solve --nats' | 'submit' | 'status' | 'result' | 'cancel' | 'jobs' | 'worker' | 'coordinator' | 'dynamic serve';

/**
 * Expected outcome per action: the users allowed (everyone else is refused with AUTH).
 * `cancel` is of a finished job: it reads the record and returns (no cancel is published), so
 * it needs read access to job state only.
 */
const ALLOWED: Readonly<Record<Action, readonly Who[]>> = {
  'solve --nats': ['coordinator'],
  submit: ['submitter'],
  status: ['submitter', 'coordinator'],
  result: ['submitter', 'coordinator'],
  cancel: ['submitter', 'coordinator'],
  jobs: ['submitter', 'coordinator'],
  worker: ['worker'],
  coordinator: ['coordinator'],
  'dynamic serve': ['worker'],
};
const SERVICE_READY: Partial<Record<Action, RegExp>> = {
  worker: /attnfit worker .*: ready/,
  coordinator: /attnfit coordinator .*: ready/,
  'dynamic serve': /attnfit dynamic: serving sessions/,
};

let server: NatsServerHandle;
let tmp: string;
let problem: string;
let jobId: string;
const bg: CliProc[] = [];

function creds(who: Who): string[] {
  if (who === 'none') return [];
  if (who === 'wrong') return ['--user', 'submitter', '--pass', 'not-the-password'];
  return ['--user', who, '--pass', PASSWORDS[who]];
}

function args(action: Action, who: Who, cell: string): string[] {
  const c = ['--nats', server.url, ...creds(who)];
  switch (action) {
    case 'solve --nats':
      return [
        'solve',
        problem,
        ...c,
        '--x0',
        join(problem, 'X_true.npy'),
        '--max-iter',
        '2',
        '--out',
        join(tmp, `solve-${cell}`),
      ];
    case 'submit':
      return ['submit', problem, ...c, '--x0', join(problem, 'X_true.npy'), '--max-iter', '1'];
    case 'status':
      return ['status', jobId, ...c];
    case 'result':
      return ['result', jobId, ...c, '--out', join(tmp, `result-${cell}`)];
    case 'cancel':
      return ['cancel', jobId, ...c];
    case 'jobs':
      return ['jobs', ...c];
    case 'worker':
      return ['worker', '--threads', '1', ...c];
    case 'coordinator':
      return ['coordinator', ...c];
    case 'dynamic serve':
      return ['dynamic', 'serve', ...c];
  }
}

/** Run one cell: { ok, out } — ok = exit 0 or, for a service, its ready line (then SIGTERM). */
async function cell(action: Action, who: Who): Promise<{ ok: boolean; code: number; out: string }> {
  const p = cli(args(action, who, `${action.replace(/\W+/g, '_')}-${who}`));
  const watchdog = setTimeout(() => p.kill('SIGKILL'), 60_000);
  try {
    const ready = SERVICE_READY[action];
    if (ready) {
      const up = await p.line(ready, 60_000).then(
        () => true,
        () => false,
      );
      if (up) {
        p.kill('SIGTERM');
        await p.exit;
        return { ok: true, code: 0, out: p.out() };
      }
    }
    const code = await p.exit;
    return { ok: code === 0, code, out: p.out() };
  } finally {
    clearTimeout(watchdog);
  }
}

test.before(async () => {
  for (const [k, v] of Object.entries(SERVER_ENV)) process.env[k] = v; // the server reads passwords from its env
  server = await startNatsServer({
    rawConfig: ({ port, dir }) =>
      `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n${includeAuth(dir)}\n`,
  });
  tmp = mkdtempSync(join(tmpdir(), 'attnfit-authm-'));
  problem = join(tmp, 'p');
  // n = 4096 makes 16 row blocks in flight at once: more abort listeners than Node's default
  // limit of 10, which printed a MaxListenersExceededWarning per job before.
  const g = await run(['generate', '--n', '4096', '--d', '2', '--seed', '3', '--out', problem]);
  assert.is(g.code, 0, g.out);
  bg.push(await startCoordinatorProc(['--nats', server.url, ...creds('coordinator')]));
  bg.push(await startWorkerProc(['--nats', server.url, ...creds('worker')]));
  const s = await run([
    'submit',
    problem,
    '--nats',
    server.url,
    ...creds('submitter'),
    '--x0',
    join(problem, 'X_true.npy'),
    '--max-iter',
    '1',
    '--wait',
  ]);
  assert.is(s.code, 0, s.out);
  jobId = s.stdout.trim().split('\n')[0]!;
});

test.after(async () => {
  await stopAll(bg);
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

for (const action of Object.keys(ALLOWED) as Action[]) {
  test(`auth matrix: ${action}`, async () => {
    // One coordinator per cluster (a lease): the background one stops first — releasing its
    // lease — so the allowed cell's coordinator may start (a second one is refused, CONFLICT).
    if (action === 'coordinator') await stopAll([bg[0]]);
    const cells = await Promise.all(WHO.map(async (who) => ({ who, r: await cell(action, who) })));
    for (const { who, r } of cells) {
      const label = `${action} as ${who}`;
      if (ALLOWED[action].includes(who)) {
        assert.ok(r.ok, `${label}: expected allowed, got exit ${r.code}:\n${r.out}`);
        assert.not.match(r.out, /MaxListenersExceededWarning/, label);
        continue;
      }
      assert.is(r.code, 2, `${label}: expected refused (exit 2), got exit ${r.code}:\n${r.out}`);
      assert.match(r.out, /attnfit: error \[AUTH\]: /, `${label}:\n${r.out}`);
      if (who === 'none' || who === 'wrong') {
        assert.match(r.out, /credentials refused|Authorization/i, `${label}:\n${r.out}`);
      } else {
        // A permission violation names the user and the subject.
        assert.match(
          r.out,
          new RegExp(`user "${who}" is not allowed to (publish|subscribe) to "[^"]+"`),
          `${label}:\n${r.out}`,
        );
      }
      assert.not.match(r.out, /INTERNAL|WORKER_LOST|node:internal/, `${label}:\n${r.out}`);
    }
  });
}

test('no MaxListenersExceededWarning from the coordinator or the worker after the jobs above', () => {
  for (const p of bg) assert.not.match(p.out(), /MaxListenersExceededWarning/, p.out());
});

test("inboxes are per user: no role may subscribe to another role's replies (nor to _INBOX.>)", async () => {
  for (const who of ['submitter', 'worker', 'coordinator'] as const) {
    const nc = await connect({ servers: server.url, user: who, pass: PASSWORDS[who], inboxPrefix: `_INBOX_${who}` });
    try {
      for (const subject of [
        '_INBOX.>',
        ...['submitter', 'worker', 'coordinator'].filter((u) => u !== who).map((u) => `_INBOX_${u}.>`),
      ]) {
        let denied: Error | undefined;
        nc.subscribe(subject, {
          callback: (err) => {
            denied ??= err ?? undefined;
          },
        });
        await nc.flush(); // the server answers a forbidden SUB before the flush's PONG
        assert.ok(denied, `${who} could subscribe to ${subject}`);
        assert.match(denied!.message, /Permissions Violation for Subscription/);
      }
    } finally {
      await nc.close();
    }
  }
});

test('an empty password is refused before connecting (--pass and ATTNFIT_NATS_PASS)', async () => {
  const flag = await run(['jobs', '--nats', server.url, '--user', 'worker', '--pass', '']);
  assert.is(flag.code, 2, flag.out);
  assert.match(flag.out, /attnfit: error \[BAD_OPTION\]: --pass: empty or missing password for user "worker"/);
  const env = await run(['worker', '--nats', server.url, '--user', 'worker'], { ATTNFIT_NATS_PASS: '' });
  assert.is(env.code, 2, env.out);
  assert.match(
    env.out,
    /attnfit: error \[BAD_OPTION\]: ATTNFIT_NATS_PASS: empty or missing password for user "worker"/,
  );
});

test.run();
