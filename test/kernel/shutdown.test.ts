import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startSlowServer } from '../helpers/slowServer.ts';

const s = suite('lifecycle: SIGTERM drains in-flight requests and exits 0');

s('a slow request in flight during SIGTERM completes; new connections are refused; exit code 0', async () => {
  const { child, port, exited, waitFor } = await startSlowServer();
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
