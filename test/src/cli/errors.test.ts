import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.js';

test('usage errors: exit 2 with one line "attnfit: error [USAGE]: …"', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['generate', '--n'], /option '--n <N>' argument missing/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.ok(r.stderr.startsWith('attnfit: error [USAGE]: '), r.stderr);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trimEnd().split('\n').length, 1);
  }
});

test('no command: help on stderr, exit 2', async () => {
  const r = await cli();
  assert.is(r.code, 2);
  assert.match(r.stderr, /Usage: attnfit/);
});

test('--help lists the commands and exits 0; help COMMAND works; --version exits 0', async () => {
  const h = await cli('--help');
  assert.is(h.code, 0);
  assert.match(h.stdout, /Usage: attnfit/);
  for (const c of ['generate', 'loss']) assert.match(h.stdout, new RegExp(`\\n\\s+${c}\\b`));
  const hc = await cli('help', 'loss');
  assert.is(hc.code, 0);
  assert.match(hc.stdout, /--hessian-out/);
  const v = await cli('--version');
  assert.is(v.code, 0);
  assert.match(v.stdout, /^attnfit \d+\.\d+\.\d+ \(gemm: /);
});

test.run();
