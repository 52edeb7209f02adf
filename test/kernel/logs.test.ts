import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

const s = suite('logging: buffered request lines are all written by shutdown');

s('the request lines and the last line before exit reach stdout after SIGTERM', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/logs/server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((res, rej) => {
    child.stderr!.on('data', (c: Buffer) => { err += c; const m = err.match(/listening (\d+)/); if (m) res(Number(m[1])); });
    child.once('exit', () => rej(new Error(`server exited before listening: ${err}`)));
  });
  const ids = Array.from({ length: 20 }, (_, i) => `flush-test-${i}`);
  const statuses = await Promise.all(ids.map((id) => fetch(`http://127.0.0.1:${port}/health`, { headers: { 'x-request-id': id } }).then((r) => r.status)));
  assert.equal(statuses, ids.map(() => 200));
  // At once: the lines are still in the 4 KB buffer, well under the periodic flush.
  child.kill('SIGTERM');
  assert.is(await exited, 0);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; requestId?: string });
  const logged = new Set(lines.filter((l) => l.msg === 'request').map((l) => l.requestId));
  for (const id of ids) assert.ok(logged.has(id), `request line of ${id} was written`);
  assert.is(
    lines.at(-1)!.msg,
    'stopped',
    `the last line is the one logged just before exit (got ${JSON.stringify(lines.at(-1))})`,
  );
});

s.run();
