/**
 * One bash session for the doc-test, as a reader would type the blocks into one terminal: the
 * blocks run in order in the same shell (exports and `cd` carry over), each with `set -e -o
 * pipefail` in force, so the first failing command ends the session and fails the test with the
 * session's output. Every block is written to a file in the control directory and sourced with
 * stdin from /dev/null (a command reading stdin cannot swallow the next block). After each block
 * the shell prints a marker line with the PIDs of its background jobs (`cmd &`), so the test can
 * stop them by PID at the end; an EXIT trap writes them too if the shell dies mid-block.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ShellSession {
  /** Run `script` in the session; rejects (with the output so far) when a command fails or after timeoutMs. */
  run(script: string, timeoutMs: number): Promise<void>;
  /** Resolves once `count` lines of the output (stdout + stderr, background jobs included) match `re`. */
  waitForLines(re: RegExp, count: number, timeoutMs: number): Promise<void>;
  /** Everything the session printed so far. */
  output(): string;
  /**
   * Stop the background jobs, then the shell. Never rejects. With the shell alive: SIGTERM, and
   * the shell waits for them (SIGKILL after `graceMs`); after the shell died: SIGKILL.
   */
  close(graceMs?: number): Promise<void>;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie still answers kill(0): it has exited.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
};

/** Start `bash` in `cwd` with exactly `env`; block files and the PID file go to `ctlDir`. */
export function startShell(cwd: string, env: NodeJS.ProcessEnv, ctlDir: string): ShellSession {
  const sh: ChildProcess = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const pidFile = join(ctlDir, 'pids');
  let all = '';
  let exited: number | null | undefined;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of [...listeners]) l();
  };
  sh.stdout!.on('data', (d: Buffer) => {
    all += d;
    changed();
  });
  sh.stderr!.on('data', (d: Buffer) => {
    all += d;
    changed();
  });
  sh.on('exit', (code) => {
    exited = code;
    changed();
  });
  sh.stdin!.on('error', () => {
    /* the shell exited: reported by the waits */
  });
  const bg = new Set<number>();
  let n = 0;
  sh.stdin!.write(`set -e -o pipefail\ntrap 'jobs -p > ${JSON.stringify(pidFile)}' EXIT\n`);

  /** Resolve when `done()` returns a value; reject when the shell exits first or on timeout. */
  const until = <T>(done: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const v = done();
        if (v !== undefined) finish(() => resolve(v));
        else if (exited !== undefined)
          finish(() => reject(new Error(`the shell exited (${exited}) before ${what}; its output:\n${all}`)));
      };
      const t = setTimeout(
        () => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms; the output:\n${all}`))),
        timeoutMs,
      );
      const finish = (f: () => void) => {
        clearTimeout(t);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      check();
    });

  return {
    async run(script, timeoutMs) {
      const k = ++n;
      const file = join(ctlDir, `block-${k}.sh`);
      writeFileSync(file, script);
      sh.stdin!.write(
        `source ${JSON.stringify(file)} </dev/null\necho "@@doctest:done ${k} $(jobs -p | tr '\\n' ' ')"\n`,
      );
      const re = new RegExp(`^@@doctest:done ${k} (.*)$`, 'm');
      const pids = await until(() => re.exec(all)?.[1], `the end of block ${k}`, timeoutMs);
      for (const p of pids.split(/\s+/).filter(Boolean)) bg.add(Number(p));
    },
    waitForLines(re, count, timeoutMs) {
      const g = new RegExp(re.source, `${re.flags.replace('g', '')}gm`);
      return until(
        () => ((all.match(g)?.length ?? 0) >= count ? true : undefined),
        `${count} line(s) matching ${re}`,
        timeoutMs,
      ).then(() => undefined);
    },
    output: () => all,
    async close(graceMs = 10_000) {
      if (existsSync(pidFile))
        for (const p of readFileSync(pidFile, 'utf8').split(/\s+/).filter(Boolean)) bg.add(Number(p));
      if (exited === undefined) {
        // The shell is alive: it reaps its own jobs after the signal.
        sh.stdin!.write(`kill -TERM $(jobs -p) 2>/dev/null || true\nwait || true\necho "@@doctest:stopped"\n`);
        // Not stopped within graceMs (or the shell died meanwhile): the SIGKILLs below end them.
        await until(() => (/^@@doctest:stopped$/m.test(all) ? true : undefined), 'the jobs to stop', graceMs).catch(
          () => undefined,
        );
      }
      // Still running after the grace period, or orphaned by a shell that died mid-block (the
      // test has failed then): SIGKILL.
      for (const p of bg) if (isAlive(p)) signal(p, 'SIGKILL');
      if (exited === undefined) {
        sh.stdin!.end('exit 0\n');
        // A shell that does not exit within 5 s is killed.
        await until(() => (exited !== undefined ? true : undefined), 'the shell to exit', 5000).catch(() => {
          sh.kill('SIGKILL');
        });
      }
    },
  };
}
