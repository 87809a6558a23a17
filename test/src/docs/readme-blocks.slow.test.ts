/**
 * Docs that cannot go stale: every shell block of the README's quick start and cluster sections
 * and of docs/cluster.md's one-machine and many-machines sections runs here, as written, in
 * order, in one bash session per file (blocks.ts: the `doctest:begin/end` markers; shell.ts: the
 * session), against the checkout's built CLI. A marked region without blocks fails the test.
 *
 * Where the blocks run: a temp directory stands in for the repository root. Its
 * `node_modules/.bin/attnfit` is a symlink to this checkout's `coordinator/bin/attnfit.js`, and
 * that directory leads PATH, so `npx attnfit`, `node_modules/.bin/attnfit` and `attnfit` all run
 * the built CLI of this checkout (npm is told to stay offline: never a registry or global
 * install). Every output the blocks write lands under the temp directory; the test checks that
 * the repository root gained no entry. The session's environment is this process's minus every
 * `ATTNFIT_*` and `npm_*` variable (a reader's fresh shell).
 *
 * What is substituted, and only this, in every block before it runs:
 * - `4222` → a free port on 127.0.0.1 (`cluster up --port` and the URLs): the default port may
 *   be taken on a CI machine, and test files run two at a time;
 * - the host name `nats1` → `127.0.0.1` (tests use loopback only);
 * - `/opt/attnfit` (where docs/cluster.md installs attnfit on each host) → the temp directory.
 *
 * Blocks marked `doctest:instead ID` are replaced by a step of this test, which first checks
 * the block's text:
 * - `install` (quick start: `npm install && npm run demo`, `npm install && npm test`): running
 *   `npm install` (and the build in `npm run demo`) here would rewrite node_modules and dist/
 *   under the test files running next to this one, and `npm test` would run this suite inside
 *   itself. CI runs exactly `npm install … && npm test` (.ci/run, checked here), so the install
 *   and build have just happened; this step runs the rest of `npm run demo` — `node
 *   scripts/demo.mjs`, checked to be what the script runs after its build — with DEMO_DIR
 *   pointing its out/demo/ into the temp directory and a smaller warm-start problem (DEMO_N,
 *   DEMO_D) to keep the test short.
 * - `server` (docs/cluster.md: nats-server from deploy/nats-server.conf): that config listens on
 *   0.0.0.0:4222 with its store in /var/lib (root); the test starts nats-server on a free
 *   loopback port with a temp store and the same deploy/auth.conf, with the passwords of the
 *   block's `export` line in the server's environment (deploy.test.ts checks the config itself
 *   with `nats-server -t`).
 *
 * Background processes a block starts (`… coordinator &`, `… worker &`) are awaited like a reader
 * would: the next block runs once each has printed its `ready` line; at the end the session
 * stops them by PID (SIGTERM, SIGKILL after 10 s). `cluster up`'s processes are stopped by the
 * block's own `cluster down`, or by the test from the cluster's pids.json if a block failed first.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { ROOT, BIN, includeAuth } from '../cluster/procs.js';
import { extractRegions, type DocBlock } from './blocks.js';
import { startShell, type ShellSession } from './shell.js';

const BLOCK_TIMEOUT_MS = 150_000;
const READY = /attnfit (coordinator|worker) .*: ready/;
/** A background start of a coordinator or worker in a block: the next block waits for its ready line. */
const BACKGROUND_SERVICE = /attnfit\s+(coordinator|worker)\b[^\n&]*&\s*(#.*)?$/gm;

interface Session {
  shell: ShellSession;
  /** The stand-in repository root the blocks run in. */
  work: string;
  port: number;
  servers: NatsServerHandle[];
  readyExpected: number;
}

/** Commands of a block: its lines without comments and blank lines. */
const commands = (b: DocBlock) =>
  b.text
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);

function substitute(text: string, s: Session): string {
  return text
    .replace(/\b4222\b/g, String(s.port))
    .replace(/\bnats1\b/g, '127.0.0.1')
    .replaceAll('/opt/attnfit', s.work);
}

/** The test's steps for `doctest:instead ID` blocks (see the file comment). */
const INSTEAD: Record<string, (b: DocBlock, s: Session) => Promise<void>> = {
  async install(b, s) {
    assert.equal(commands(b), ['npm install && npm run demo', 'npm install && npm test'], 'the quick start block');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.is(pkg.scripts.demo, 'npm run build && node scripts/demo.mjs', 'package.json scripts.demo');
    assert.ok(
      readFileSync(join(ROOT, '.ci', 'run'), 'utf8').includes('npm install --no-audit --no-fund && npm test'),
      '.ci/run runs the quick start test command',
    );
    await s.shell.run(
      `DEMO_DIR="$PWD" DEMO_N=512 DEMO_D=4 node ${JSON.stringify(join(ROOT, 'scripts', 'demo.mjs'))}\n`,
      BLOCK_TIMEOUT_MS,
    );
    assert.ok(existsSync(join(s.work, 'out', 'demo', 'fit-warm', 'X.npy')), 'the demo wrote out/demo/fit-warm');
  },
  async server(b, s) {
    assert.ok(b.text.includes('nats-server -c /opt/attnfit/deploy/nats-server.conf'), 'the server block');
    const env: Record<string, string> = {};
    for (const m of b.text.matchAll(/\b(ATTNFIT_(SUBMITTER|WORKER|COORDINATOR)_PASS)=(\S+)/g)) env[m[1]!] = m[3]!;
    assert.equal(Object.keys(env).sort(), [
      'ATTNFIT_COORDINATOR_PASS',
      'ATTNFIT_SUBMITTER_PASS',
      'ATTNFIT_WORKER_PASS',
    ]);
    Object.assign(process.env, env); // nats-server reads deploy/auth.conf's passwords from its environment
    try {
      s.servers.push(
        await startNatsServer({
          port: s.port,
          rawConfig: ({ port, dir }) =>
            `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n${includeAuth(dir)}\n`,
        }),
      );
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
  },
};

/** Kill what `attnfit cluster up` left running under `dir` (its pids.json files), if a block failed before `cluster down`. */
function killClusters(dir: string): void {
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name === 'node_modules') continue;
      const p = join(d, e.name);
      const pids = join(p, 'pids.json');
      if (existsSync(pids)) {
        const j = JSON.parse(readFileSync(pids, 'utf8')) as { nats: number; coordinator: number; workers: number[] };
        for (const pid of [...j.workers, j.coordinator, j.nats])
          try {
            if (pid > 0) process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
      }
      walk(p);
    }
  };
  walk(dir);
}

/** Run the doctest regions of `file` (relative to the repo root), which must be exactly `names`. */
async function runDoc(file: string, names: string[]): Promise<void> {
  const regions = extractRegions(readFileSync(join(ROOT, file), 'utf8'), file);
  assert.equal(
    regions.map((r) => r.name),
    names,
    `${file}: doctest regions`,
  );
  for (const r of regions)
    assert.ok(r.blocks.length > 0, `${file}:${r.line}: doctest region ${r.name} has no sh block`);

  const tmp = mkdtempSync(join(tmpdir(), 'attnfit-doctest-'));
  const work = join(tmp, 'checkout');
  const ctl = join(tmp, 'ctl');
  mkdirSync(join(work, 'node_modules', '.bin'), { recursive: true });
  mkdirSync(ctl);
  symlinkSync(BIN, join(work, 'node_modules', '.bin', 'attnfit'));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(ATTNFIT_|npm_)/i.test(k)) env[k] = v;
  Object.assign(env, {
    PATH: `${join(work, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  });
  const rootBefore = new Set(readdirSync(ROOT));
  const s: Session = { shell: startShell(work, env, ctl), work, port: await freePort(), servers: [], readyExpected: 0 };
  try {
    for (const r of regions)
      for (const b of r.blocks) {
        const where = `${file}:${b.line} (region ${r.name})`;
        const t0 = Date.now();
        if (b.instead !== undefined) {
          const step = INSTEAD[b.instead];
          assert.ok(step, `${where}: doctest:instead ${b.instead}: the test has no such step`);
          await step(b, s);
          console.log(`${where}: step ${b.instead} in ${Date.now() - t0} ms`); // informative only
          continue;
        }
        await s.shell.run(substitute(b.text, s), BLOCK_TIMEOUT_MS).catch((err: Error) => {
          throw new Error(`${where}: ${err.message}`);
        });
        s.readyExpected += b.text.match(BACKGROUND_SERVICE)?.length ?? 0;
        await s.shell.waitForLines(READY, s.readyExpected, 60_000);
        console.log(`${where}: ran in ${Date.now() - t0} ms`); // informative only
      }
  } finally {
    await s.shell.close();
    killClusters(work);
    await Promise.all(s.servers.map((v) => v.stop()));
    rmSync(tmp, { recursive: true, force: true });
  }
  const added = readdirSync(ROOT).filter((e) => !rootBefore.has(e));
  assert.equal(added, [], `${file}: its blocks wrote into the repository root`);
}

test('README.md: the quick start and cluster blocks run as written', async () => {
  await runDoc('README.md', ['quickstart', 'cluster']);
});

test('docs/cluster.md: the one-machine and many-machines blocks run as written', async () => {
  await runDoc('docs/cluster.md', ['one-machine', 'many-machines']);
});

test.run();
