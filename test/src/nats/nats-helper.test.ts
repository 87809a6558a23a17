import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startNatsServer } from '../helpers/nats-server.js';

test('a real nats-server starts on loopback with a temp store and stops', async () => {
  const s = await startNatsServer();
  assert.match(s.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  await s.stop();
  assert.ok(s.proc.exitCode !== null || s.proc.signalCode !== null);
});

test.run();
