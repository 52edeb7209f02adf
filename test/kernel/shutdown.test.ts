import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

const s = suite('lifecycle: SIGTERM drains in-flight requests and exits 0');

s('a slow request in flight during SIGTERM completes; new connections are refused; exit code 0', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/slow/server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let out = '';
  const waitFor = (pattern: RegExp) => new Promise<RegExpMatchArray>((resolveMatch, reject) => {
    const check = () => {
      const m = out.match(pattern);
      if (m) {
        child.stdout!.off('data', onData);
        resolveMatch(m);
      }
    };
    const onData = (c: Buffer) => { out += c; check(); };
    child.stdout!.on('data', onData);
    child.once('exit', () => reject(new Error(`server exited before printing ${pattern}: ${out}`)));
    check();
  });
  const port = Number((await waitFor(/listening (\d+)/))[1]);
  const base = `http://127.0.0.1:${port}`;

  const inFlight = fetch(`${base}/v1/slow?ms=1500`).then(async (r) => ({ status: r.status, body: await r.json() }));
  await waitFor(/slow started/);
  child.kill('SIGTERM');
  const response = await inFlight;
  assert.is(response.status, 200);
  assert.equal(response.body, { waited: 1500 });
  assert.is(await exited, 0);
  const refused = await fetch(`${base}/health`).then(() => 'answered', (e) => (e as Error).name);
  assert.is(refused, 'TypeError', 'the port is closed after shutdown');
});

s.run();
