import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createKernel, loadConfig } from '../../scripts/kernel.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import { createLogger, type Kernel } from '../../kernel/boot.ts';
import type { Clock } from '../../kernel/ports/clock.ts';

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

export interface TestKernel {
  kernel: Kernel;
  url: string;
  request(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> },
  ): Promise<TestResponse>;
  stop(): Promise<void>;
}

let counter = 0;
/** A throwaway SQLite file per kernel, so suites never share state. */
export function tempSqliteUrl(): string {
  return `file:${join(tmpdir(), `kernel-test-${process.pid}-${Date.now()}-${counter++}.db`)}`;
}

/**
 * Boots a kernel on a random port with the embedded default plus `overrides`, a silent
 * logger and response validation on (every response is checked against the contract).
 */
export async function startKernel(
  overrides: Record<string, unknown> = {},
  extra: { clock?: Clock; logLines?: string[] } = {},
): Promise<TestKernel> {
  const dbUrl = tempSqliteUrl();
  // Rate limiting is off so suites are not throttled; the rate-limit suite turns it on.
  const base = {
    server: { port: 0, host: '127.0.0.1', validateResponses: true },
    database: { url: dbUrl },
    log: { level: 'silent' },
    rateLimit: { enabled: false },
  };
  const config = loadConfig({ env: {}, overrides: deepMerge(base, overrides) });
  // `logLines`: the kernel's own logger (serializers, redaction) at `log.level`, every line captured.
  const logger = extra.logLines
    ? createLogger(config, capturingDestination(extra.logLines))
    : pino({ level: 'silent' });
  const kernel = await createKernel(config, { logger, clock: extra.clock }).catch((e) => {
    // uvu swallows errors thrown in before() hooks; print them so a failed boot is diagnosable.
    console.error('startKernel failed:', e);
    throw e;
  });
  const address = await kernel.listen();
  const url = `http://127.0.0.1:${address.port}`;
  return {
    kernel,
    url,
    request: (method, path, options = {}) => request(url, method, path, options),
    async stop() {
      await kernel.stop();
      if (config.database.driver === 'sqlite') rmSync(config.database.url.replace(/^file:/, ''), { force: true });
    },
  };
}

export async function request(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body: body as BodyInit | undefined });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** Asserts the one error format, and that no stack trace leaks. */
export function assertError(res: TestResponse, status: number, code?: string): void {
  assert.is(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
  const e = res.body?.error;
  assert.ok(e, `no error object in ${res.text.slice(0, 300)}`);
  assert.type(e.code, 'string');
  assert.type(e.message, 'string');
  assert.type(e.requestId ?? e.request_id, 'string'); // either casing
  assert.ok(!Number.isNaN(Date.parse(e.timestamp)), 'timestamp is ISO-8601');
  assert.ok('details' in e, 'details is present (null when empty)');
  assert.not.match(res.text, /\bat .+:\d+:\d+\)/, 'no stack trace in the response');
  if (code) assert.is(e.code, code);
}

/** A pino destination that keeps every log line (for "no secret in any log line" checks). */
export function capturingDestination(lines: string[]): { write(line: string): void } {
  return { write: (line: string) => { lines.push(line); } };
}
