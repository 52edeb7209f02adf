import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

const s = suite('lifecycle: a second signal does not cut the drain short');

s('SIGINT twice (Ctrl-C under npm start) while a slow request runs: it completes, exit code 0', async () => {
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
  const inFlight = fetch(`http://127.0.0.1:${port}/v1/slow?ms=1500`).then((r) => r.status, (e) => (e as Error).message);
  await waitFor(/slow started/);
  child.kill('SIGINT');
  // The first signal was handled once the port stops accepting; only then send the second (signals coalesce).
  while (await fetch(`http://127.0.0.1:${port}/health`).then(() => true, () => false));
  child.kill('SIGINT');
  assert.is(await inFlight, 200, 'the request in flight was answered');
  assert.is(await exited, 0);
});

s.run();
