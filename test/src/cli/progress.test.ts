/**
 * Progress output: a bar (cli-progress) on stderr only when it is a terminal — checked under a
 * real pseudo-terminal with util-linux `script` — and the unchanged plain output otherwise.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { BIN, cli } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';

const work = mkdtempSync(join(tmpdir(), 'attnfit-progress-'));
test.before(async () => {
  const g = await cli(
    'generate',
    '--n',
    '64',
    '--d',
    '3',
    '--seed',
    '4',
    '--warm-noise',
    '0.05',
    '--out',
    join(work, 'p'),
  );
  assert.is(g.code, 0, g.stderr);
});
test.after(() => rmSync(work, { recursive: true, force: true }));

test('solve without a terminal: no bar, no carriage returns, one summary line on stderr', async () => {
  const r = await cli(
    'solve',
    join(work, 'p'),
    '--x0',
    join(work, 'p', 'X_warm.npy'),
    '--threads',
    '1',
    '--out',
    join(work, 'plain'),
  );
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /[\r█░]/);
  assert.match(r.stderr, /^attnfit solve: .* iterations, [\d.]+ s\); wrote .*\n$/);
});

const haveScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
testIf(
  test,
  'solve in a terminal draws a progress bar',
  haveScript ? undefined : 'util-linux `script` (runs a command under a pseudo-terminal) is not installed',
  () => {
    const cmd = [
      process.execPath,
      BIN,
      'solve',
      join(work, 'p'),
      '--x0',
      join(work, 'p', 'X_warm.npy'),
      '--threads',
      '1',
      '--out',
      join(work, 'tty'),
    ]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
      .join(' ');
    const out = execFileSync('script', ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, COLUMNS: '160' },
    });
    assert.match(out, /attnfit solve .*█.* iter \d+\/\d+ +start 0 +relLoss \d\.\d{3}e[-+]\d+/);
    assert.match(out, /attnfit solve: .* wrote /);
  },
);

test('progressBar: nothing on a non-terminal stream; a bar with the fields on a terminal one', async () => {
  // A CLI-internal module (not in the package's exports): imported by path.
  type ProgressModule = {
    progressBar(
      format: string,
      total: number,
      fields: Record<string, string>,
      stream: NodeJS.WriteStream,
    ): { update(v: number, f?: Record<string, string>): void; stop(): void } | undefined;
    formatBytes(b: number): string;
  };
  const { progressBar, formatBytes } = (await import(
    new URL('../../../coordinator/dist/cli/progress.js', import.meta.url).href
  )) as ProgressModule;
  const plain = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  assert.is(progressBar('{bar} {value}/{total}', 10, {}, plain), undefined);
  let text = '';
  const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 120 }) as unknown as NodeJS.WriteStream &
    PassThrough;
  tty.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const bar = progressBar('upload {bar} {value}/{total} {sent}', 4, { sent: '0 B' }, tty)!;
  bar.update(4, { sent: formatBytes(3 * 1024 * 1024) });
  bar.stop();
  assert.match(text, /upload █+ 4\/4 3\.0 MiB/);
  assert.is(formatBytes(512), '512 B');
});

test.run();
