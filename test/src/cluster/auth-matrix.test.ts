/**
 * The auth matrix: every deploy user (deploy/auth.conf: submitter, worker, coordinator; plus no
 * credentials and a wrong password) × every command that talks to NATS, against a real
 * nats-server started with deploy's authorization config. Each cell is either "allowed" (the
 * command does its work: exit 0, or a service reports ready) or "refused": exit 2 with
 * `attnfit: error [AUTH]: …` — naming the user and the subject for a permission violation —
 * never a hang (each run is bounded by a watchdog far above the expected time; the point is
 * that a refusal comes from the server's first answer, not a task timeout).
 * Also: an empty password is refused before connecting (BAD_OPTION naming --pass / the variable);
 * and tenant isolation (docs/cluster.md, "Security"): no role but the coordinator writes results,
 * workers cannot read them, no role purges or deletes streams (the coordinator only its results
 * bucket), and a problem poisoned by a submitter is detected by readers and re-uploaded by the
 * next submit, whose job is still right.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { loadProblem } from '@attnfit/shared/io';
import {
  PROBLEMS_BUCKET,
  RESULTS_BUCKET,
  JOBS_BUCKET,
  JOBS_STREAM,
  packProblem,
  problemPartName,
  problemRef,
  readProblemBlob,
  resultObjectName,
} from '@attnfit/shared/protocol';
import { objectDigest } from '@attnfit/coordinator/internal';
import { AttnfitError } from '@attnfit/shared/core';
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
    // Later tests (isolation) submit jobs: give the cluster its coordinator back.
    if (action === 'coordinator') bg[0] = await startCoordinatorProc(['--nats', server.url, ...creds('coordinator')]);
    for (const { who, r } of cells) {
      const label = `${action} as ${who}`;
      if (ALLOWED[action].includes(who)) {
        assert.ok(r.ok, `${label}: expected allowed, got exit ${r.code}:\n${r.out}`);
        assert.not.match(r.out, /MaxListenersExceededWarning/, label);
        // The deploy config lets a worker serve its direct task subject (addressed dispatch).
        if (action === 'worker') assert.match(r.out, /ready \(.*direct attnfit\.task\.[A-Za-z0-9_-]+\)/, label);
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

/** Connect as a deploy user (with its inbox prefix) and record permission violations. */
async function as(who: 'submitter' | 'worker' | 'coordinator'): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await connect({ servers: server.url, user: who, pass: PASSWORDS[who], inboxPrefix: `_INBOX_${who}` });
  const errors: string[] = [];
  void (async () => {
    for await (const st of nc.status()) if (st.type === 'error') errors.push(String((st as { error?: unknown }).error));
  })();
  return { nc, errors };
}

/** Publish once and report whether the server refused it (its -ERR comes before the flush's PONG). */
async function refused(
  c: { nc: NatsConnection; errors: string[] },
  subject: string,
  data = new Uint8Array(0),
): Promise<boolean> {
  const before = c.errors.length;
  c.nc.publish(subject, data);
  await c.nc.flush();
  await new Promise((r) => setImmediate(r)); // let the status iterator run
  return c.errors.slice(before).some((e) => e.includes('Permissions Violation for Publish') && e.includes(subject));
}

function b64urlPadded(s: string): string {
  return Buffer.from(s).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

test("addressed tasks: only the coordinator sends tasks to a worker's direct subject or pings workers; only workers serve them", async () => {
  const direct = 'attnfit.task.someWorkerId';
  const ping = 'attnfit.workers.ping';
  const submitter = await as('submitter');
  const worker = await as('worker');
  const coordinator = await as('coordinator');
  try {
    for (const subject of [direct, ping, 'attnfit.task']) {
      assert.ok(await refused(submitter, subject), `submitter may publish ${subject}`);
      assert.ok(await refused(worker, subject), `worker may publish ${subject}`);
      assert.not.ok(await refused(coordinator, subject), `coordinator may not publish ${subject}`);
    }
    const subscribeRefused = async (c: { nc: NatsConnection }, subject: string): Promise<boolean> => {
      let denied: Error | undefined;
      const sub = c.nc.subscribe(subject, { callback: (err) => void (denied ??= err ?? undefined) });
      await c.nc.flush(); // the server answers a forbidden SUB before the flush's PONG
      if (!denied) sub.unsubscribe();
      return denied !== undefined;
    };
    for (const subject of [direct, ping]) {
      assert.not.ok(await subscribeRefused(worker, subject), `worker may not subscribe to ${subject}`);
      assert.ok(await subscribeRefused(submitter, subject), `submitter may subscribe to ${subject}`);
    }
  } finally {
    await Promise.all([submitter, worker, coordinator].map((c) => c.nc.close()));
  }
});

test('isolation: results are written only by the coordinator; workers cannot read them; nobody else purges or deletes', async () => {
  const resultMeta = `$O.${RESULTS_BUCKET}.M.${b64urlPadded(resultObjectName(jobId))}`;
  const purge = (stream: string) => `$JS.API.STREAM.PURGE.${stream}`;
  const streams = [`OBJ_${PROBLEMS_BUCKET}`, `OBJ_${RESULTS_BUCKET}`, `KV_${JOBS_BUCKET}`, JOBS_STREAM];
  const destructive = streams.flatMap((s) => [
    purge(s),
    `$JS.API.STREAM.DELETE.${s}`,
    `$JS.API.STREAM.UPDATE.${s}`,
    `$JS.API.STREAM.MSG.DELETE.${s}`,
  ]);
  const cases: Record<'submitter' | 'worker' | 'coordinator', { refuse: string[]; allow: string[] }> = {
    submitter: {
      // forging a result (its chunks or its metadata), changing a job record, purging, deleting
      refuse: [`$O.${RESULTS_BUCKET}.C.forged`, resultMeta, `$KV.${JOBS_BUCKET}.job.${jobId}`, ...destructive],
      allow: [`$O.${PROBLEMS_BUCKET}.C.probe`, `$JS.API.STREAM.INFO.OBJ_${RESULTS_BUCKET}`],
    },
    worker: {
      // reading results by any API, writing problems or results, purging, deleting
      refuse: [
        `$JS.API.STREAM.INFO.OBJ_${RESULTS_BUCKET}`,
        `$JS.API.CONSUMER.CREATE.OBJ_${RESULTS_BUCKET}`,
        `$JS.API.CONSUMER.CREATE.OBJ_${RESULTS_BUCKET}.c.$O.${RESULTS_BUCKET}.C.x`,
        `$JS.API.DIRECT.GET.OBJ_${RESULTS_BUCKET}`,
        `$JS.API.DIRECT.GET.OBJ_${RESULTS_BUCKET}.${resultMeta}`,
        `$JS.API.STREAM.MSG.GET.OBJ_${RESULTS_BUCKET}`,
        `$JS.API.DIRECT.GET.KV_${JOBS_BUCKET}.$KV.${JOBS_BUCKET}.job.${jobId}`,
        `$O.${PROBLEMS_BUCKET}.C.forged`,
        `$O.${RESULTS_BUCKET}.C.forged`,
        resultMeta,
        ...destructive,
      ],
      allow: [`$JS.API.STREAM.INFO.OBJ_${PROBLEMS_BUCKET}`],
    },
    coordinator: {
      refuse: destructive.filter((s) => s !== purge(`OBJ_${RESULTS_BUCKET}`)),
      allow: [`$JS.API.STREAM.INFO.OBJ_${RESULTS_BUCKET}`, `$O.${RESULTS_BUCKET}.C.probe`],
    },
  };
  for (const who of ['submitter', 'worker', 'coordinator'] as const) {
    const c = await as(who);
    try {
      for (const subject of cases[who].refuse) assert.ok(await refused(c, subject), `${who} may publish ${subject}`);
      for (const subject of cases[who].allow)
        assert.not.ok(await refused(c, subject), `${who} may not publish ${subject}`);
    } finally {
      await c.nc.close();
    }
  }
  // The coordinator's one purge right, used as it uses it: a filtered purge of its results bucket.
  const c = await as('coordinator');
  try {
    const r = await c.nc.request(
      purge(`OBJ_${RESULTS_BUCKET}`),
      JSON.stringify({ filter: `$O.${RESULTS_BUCKET}.C.none` }),
    );
    assert.match(new TextDecoder().decode(r.data), /"success":\s*true/);
  } finally {
    await c.nc.close();
  }
  // The job's result is still the coordinator's: readable by the submitter, unchanged.
  const r = await run(['result', jobId, '--nats', server.url, ...creds('submitter'), '--out', join(tmp, 'iso-result')]);
  assert.is(r.code, 0, r.out);
});

test('isolation: a problem poisoned by a submitter is caught by readers and re-uploaded by the next submit; the job is still right', async () => {
  const before = join(tmp, 'poison-before');
  const r0 = await run(['result', jobId, '--nats', server.url, ...creds('submitter'), '--out', before]);
  assert.is(r0.code, 0, r0.out);
  const p = await loadProblem(problem);
  const blob = packProblem(p);
  const ref = problemRef(blob, p.n, p.d);
  const part = problemPartName(ref.hash, 8 * 1024 * 1024, 0); // the default part size: one part here
  // As a submitter: junk chunks under the part's name, metadata claiming the real size and digest.
  const sub = await as('submitter');
  try {
    const js = jetstream(sub.nc);
    const id = `poison${randomBytes(4).toString('hex')}`;
    await js.publish(`$O.${PROBLEMS_BUCKET}.C.${id}`, new Uint8Array(blob.length).fill(1));
    const h = headers();
    h.set('Nats-Rollup', 'sub');
    const meta = {
      name: part,
      description: '',
      options: { max_chunk_size: 131072 },
      bucket: PROBLEMS_BUCKET,
      nuid: id,
      size: blob.length,
      chunks: 1,
      mtime: new Date().toISOString(),
      digest: objectDigest(blob),
      deleted: false,
    };
    await js.publish(`$O.${PROBLEMS_BUCKET}.M.${b64urlPadded(part)}`, JSON.stringify(meta), { headers: h });
    // Only permission violations matter here (the publishes above must not be refused); other
    // async status errors of the connection (e.g. a closed request) are not about the poison.
    const refused = sub.errors.filter((e) => e.includes('Permissions Violation'));
    assert.is(refused.length, 0, refused.join('\n'));
  } finally {
    await sub.nc.close();
  }
  // A worker reading it now detects the poison (content hash), it does not compute on junk.
  const wrk = await as('worker');
  try {
    const err = await readProblemBlob(await new Objm(wrk.nc).open(PROBLEMS_BUCKET), ref).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, AttnfitError);
    assert.is((err as AttnfitError).code, 'PROTOCOL');
  } finally {
    await wrk.nc.close();
  }
  // The next submit verifies the stored part by its bytes, re-uploads it, and the job is right.
  const after = join(tmp, 'poison-after');
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
    '--out',
    after,
  ]);
  assert.is(s.code, 0, s.out);
  const wrk2 = await as('worker');
  try {
    const back = await readProblemBlob(await new Objm(wrk2.nc).open(PROBLEMS_BUCKET), ref);
    assert.ok(Buffer.from(back).equals(Buffer.from(blob)), 'the submit replaced the poisoned part');
  } finally {
    await wrk2.nc.close();
  }
  for (const f of ['X.npy', 'Y.npy'])
    assert.ok(
      readFileSync(join(before, f)).equals(readFileSync(join(after, f))),
      `${f}: bitwise equal to the job before the poisoning`,
    );
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
