import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createLogger } from '../../kernel/logger.ts';
import { requestLineWriter } from '../../kernel/logging.ts';
import type { KernelConfig } from '../../kernel/config/schema.ts';

const s = suite('logging: the request line written without pino serialising it is the line pino writes');

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write(line: string) { lines.push(line); return true; } } };
}
const config = (level: string) => ({ name: 'api-kernel', log: { level, requests: true } }) as unknown as KernelConfig;
const sameTime = (line: string) => line.replace(/"time":\d+/, '"time":0');

const ROUTES = [
  'system.health', '/v1/nope', '/v1/"quoted"\\back', '/v1/\u0001ctl\ttab', '/v1/é/ü/\u00ff',
  '/v1/' + 'long-segment/'.repeat(20), '',
];

s('the same bytes as logger.info for the kernel logger, byte for byte but the time', () => {
  const fast = capture();
  const slow = capture();
  const a = createLogger(config('info'), fast.stream);
  const b = createLogger(config('info'), slow.stream);
  const line = requestLineWriter(a);
  for (const route of ROUTES) {
    for (const [status, ms] of [[200, 0.3], [404, 12], [500, 1234.5]] as const) {
      line('01a232d2-ba01-754a-8a0e-209d8fc75949', 'GET', route, status, ms);
      b.info({ requestId: '01a232d2-ba01-754a-8a0e-209d8fc75949', method: 'GET', route, status, ms }, 'request');
    }
  }
  assert.is(fast.lines.length, ROUTES.length * 3);
  assert.equal(fast.lines.map(sameTime), slow.lines.map(sameTime));
  for (const l of fast.lines) assert.type(JSON.parse(l).time, 'number');
});

s('a level above info writes nothing; another logger goes through logger.info', () => {
  const quiet = capture();
  requestLineWriter(createLogger(config('warn'), quiet.stream))('id', 'GET', 'system.health', 200, 1);
  assert.is(quiet.lines.length, 0);
  const other = capture();
  const custom = pino({ base: { custom: true }, mixin: () => ({ traced: 1 }) }, other.stream);
  requestLineWriter(custom)('id', 'GET', 'system.health', 200, 1);
  const parsed = JSON.parse(other.lines[0]) as Record<string, unknown>;
  assert.is(parsed.traced, 1, "the other logger's mixin ran");
  assert.is(parsed.msg, 'request');
});

s.run();
