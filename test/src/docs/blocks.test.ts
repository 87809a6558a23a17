/** The doctest marker parser (blocks.ts): what is extracted, and every malformed marking it refuses. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { extractRegions } from './blocks.js';

const doc = (...lines: string[]) => lines.join('\n');

test('sh blocks inside regions are extracted in order; text blocks and blocks outside regions are not', () => {
  const md = doc(
    '```sh',
    'echo outside',
    '```',
    '<!-- doctest:begin one -->',
    'prose',
    '```sh',
    'echo a',
    '```',
    '```text',
    'attnfit cluster up [--port P]',
    '```',
    '<!-- doctest:instead server -->',
    '',
    '````bash',
    'nats-server &',
    '```',
    '````',
    '<!-- doctest:end one -->',
    '<!-- doctest:begin two -->',
    '<!-- doctest:end two -->',
  );
  const r = extractRegions(md, 'X.md');
  assert.equal(
    r.map((x) => x.name),
    ['one', 'two'],
  );
  assert.equal(r[0]!.blocks, [
    { line: 6, text: 'echo a\n' },
    { line: 14, text: 'nats-server &\n```\n', instead: 'server' },
  ]);
  assert.equal(r[1]!.blocks, []);
});

test('malformed markings throw, naming file and line', () => {
  const bad: Array<[string, RegExp]> = [
    [doc('<!-- doctest:begin a -->', '```', 'x', '```', '<!-- doctest:end a -->'), /X\.md:2: .*sh .*text/],
    [doc('<!-- doctest:begin a -->', '```python', 'x', '```', '<!-- doctest:end a -->'), /not "python"/],
    [doc('<!-- doctest:begin a -->'), /X\.md:1: doctest:begin a is never ended/],
    [doc('<!-- doctest:end a -->'), /without doctest:begin a/],
    [doc('<!-- doctest:begin a -->', '<!-- doctest:begin b -->'), /inside region a/],
    [doc('<!-- doctest:begin a -->', '<!-- doctest:instead s -->', 'prose', '<!-- doctest:end a -->'), /not followed/],
    [doc('<!-- doctest:instead s -->', '```sh', 'x', '```'), /outside a doctest region/],
    [
      doc('<!-- doctest:begin a -->', '```sh', 'x', '<!-- doctest:end a -->'),
      /X\.md:2: the code fence is never closed/,
    ],
    [doc('<!-- doctest: a -->'), /unknown doctest marker/],
  ];
  for (const [md, re] of bad) assert.throws(() => extractRegions(md, 'X.md'), re, md);
});

test.run();
