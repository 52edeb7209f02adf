import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { systemClock } from '../../kernel/ports/clock.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import { assertCode, rejection } from '../ports/egress.suite.ts';

// The AI gateway's egress judges a hostname's SSRF verdict once (undiciClient.ts): every later call still obeys it.
const context = { logger: pino({ level: 'silent' }), clock: systemClock, serviceName: 'kernel-test' };

test('a refused IP literal stays refused on every call, streamed or not, and logs each refusal', async () => {
  const warnings: unknown[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(JSON.parse(line)); } });
  const egress = await createUndiciEgress({}, { ...context, logger });
  try {
    for (const url of ['http://127.0.0.1:9/x', 'http://127.0.0.1:9/y', 'http://[::1]:9/x', 'http://169.254.169.254/']) {
      for (let i = 0; i < 2; i++) {
        assertCode(await rejection(() => egress.request({ url })), 'EGRESS_BLOCKED', 400);
        assertCode(await rejection(() => egress.stream!({ url })), 'EGRESS_BLOCKED', 400);
      }
    }
    assert.is(warnings.length, 16, 'one warning per refused call');
  } finally {
    await egress.close?.();
  }
});

test('an allowlisted literal is reached on every call; the metadata address is refused even allowlisted', async () => {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const egress = await createUndiciEgress({ allowCidrs: ['127.0.0.1/32', '169.254.0.0/16'] }, context);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await egress.request({ url: `http://127.0.0.1:${port}/` });
      assert.is(res.text(), 'ok');
      assertCode(await rejection(() => egress.request({ url: 'http://169.254.169.254/' })), 'EGRESS_BLOCKED', 400);
    }
  } finally {
    await egress.close?.();
    await new Promise((r) => server.close(r));
  }
});

test.run();
