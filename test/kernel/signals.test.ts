import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startSlowServer } from '../helpers/slowServer.ts';

const s = suite('lifecycle: a second signal does not cut the drain short');

s('SIGINT twice (Ctrl-C under npm start) while a slow request runs: it completes, exit code 0', async () => {
  const { child, port, exited, waitFor } = await startSlowServer();
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
