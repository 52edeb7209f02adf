import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger } from '../../kernel/logger.ts';
import { flushLogs, LOG_BUFFER_BYTES } from '../../kernel/logging.ts';
import type { KernelConfig } from '../../kernel/config/schema.ts';
import { ROOT } from '../../scripts/paths.ts';

const s = suite('logging: request lines are buffered, and flushed at shutdown so none is lost');

s('lines shorter than the buffer are held, not written one by one; flushLogs writes every one', async () => {
  const file = join(tmpdir(), `log-flush-${process.pid}-${Date.now()}.log`);
  const logger = createLogger({ name: 'flush-test', log: { level: 'info' } } as KernelConfig, file);
  try {
    const ids = Array.from({ length: 8 }, (_, i) => `req-${i}`);
    for (const requestId of ids) logger.info({ requestId, method: 'GET', status: 200 }, 'request');
    // Still in this synchronous block: nothing can have been written yet (8 lines < LOG_BUFFER_BYTES).
    assert.ok(8 * 120 < LOG_BUFFER_BYTES);
    assert.is(existsSync(file) ? readFileSync(file, 'utf8') : '', '', 'buffered');
    await flushLogs(logger);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.map((l) => l.requestId), ids);
  } finally {
    rmSync(file, { force: true });
  }
});

s('SIGTERM right after requests: the served process still prints every request line, then exits 0', async () => {
  const db = join(tmpdir(), `log-flush-${process.pid}-${Date.now()}.db`);
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts/cli.ts'), 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH!, PORT: '0', KERNEL_SERVER__HOST: '127.0.0.1',
      KERNEL_DATABASE__DRIVER: 'sqlite', KERNEL_DATABASE__URL: `file:${db}`, KERNEL_LOG__LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => { out += c; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const url = await new Promise<string>((res, rej) => {
      const onData = () => {
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) { child.stdout!.off('data', onData); res(m[1].replace('localhost', '127.0.0.1')); }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => rej(new Error(`exited (${code}) before listening:\n${out}`)));
    });
    const ids = ['flush-a', 'flush-b', 'flush-c'];
    for (const id of ids) {
      const res = await fetch(`${url}/health`, { headers: { 'x-request-id': id } });
      assert.is(res.status, 200);
    }
    child.kill('SIGTERM');
    assert.is(await exited, 0);
    const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    for (const id of ids) {
      assert.ok(lines.some((l) => l.msg === 'request' && l.requestId === id), `the line of ${id} was written`);
    }
    assert.ok(lines.some((l) => l.msg === 'stopped'), 'and the last line, after the drain');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
  }
});

s.run();
