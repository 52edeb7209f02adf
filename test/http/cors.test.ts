import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';
import { loadConfig } from '../../scripts/kernel.ts';
import { ConfigError } from '../../kernel/config/problems.ts';

const s = suite('http: CORS never reflects an Origin with credentials allowed');

function configProblems(cors: Record<string, unknown>): string[] {
  try {
    loadConfig({ env: {}, overrides: { server: { cors } } });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

s('credentials: true with "*" (or the default origins) fails config validation, naming the path and why', () => {
  for (const cors of [{ credentials: true }, { credentials: true, origins: ['*'] }, { credentials: true, origins: ['https://a.example', '*'] }, { credentials: true, origins: [] }]) {
    const problems = configProblems(cors);
    assert.is(problems.length, 1, JSON.stringify({ cors, problems }));
    assert.match(problems[0], /^server\.cors\.credentials: true needs an explicit list of server\.cors\.origins/);
    assert.match(problems[0], /any web site could send credentialed requests/);
  }
  assert.equal(configProblems({ credentials: true, origins: ['https://app.example'] }), []);
  assert.equal(configProblems({ credentials: true, enabled: false }), []);
  assert.equal(configProblems({}), [], 'the default is valid');
});

const preflight = (k: TestKernel, origin: string) =>
  k.request('OPTIONS', '/v1/notes', { headers: { origin, 'access-control-request-method': 'POST' } });

s('the default allows any origin without credentials', async () => {
  const k = await startKernel();
  try {
    for (const res of [await k.request('GET', '/health', { headers: { origin: 'https://evil.example' } }), await preflight(k, 'https://evil.example')]) {
      assert.is(res.headers.get('access-control-allow-origin'), '*');
      assert.is(res.headers.get('access-control-allow-credentials'), null);
    }
  } finally { await k.stop(); }
});

s('with credentials and a list, only listed origins are reflected', async () => {
  const k = await startKernel({ server: { cors: { credentials: true, origins: ['https://app.example'] } } });
  try {
    const evil = await k.request('GET', '/health', { headers: { origin: 'https://evil.example' } });
    assert.is(evil.headers.get('access-control-allow-origin'), null);
    assert.is(evil.headers.get('access-control-allow-credentials'), null);
    const evilPre = await preflight(k, 'https://evil.example');
    assert.is(evilPre.headers.get('access-control-allow-origin'), null);
    const app = await k.request('GET', '/health', { headers: { origin: 'https://app.example' } });
    assert.is(app.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.is(app.headers.get('access-control-allow-credentials'), 'true');
  } finally { await k.stop(); }
});

s.run();
