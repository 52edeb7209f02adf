import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from '../helpers/kernel.ts';
import { assertPublicBaseUrl } from '../../plugins/oauth/config.ts';
import { startOAuth } from './helpers.ts';

const s = suite('oauth: the metadata document never reflects the Host header into a shared cache');

s('without publicBaseUrl: built from Host, but Vary: Host and no-store', async () => {
  const k = await startOAuth();
  try {
    const res = await request(k.url, 'GET', '/.well-known/oauth-authorization-server', {
      headers: { host: 'evil.example' },
    });
    assert.is(res.status, 200, res.text);
    assert.is(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('vary') ?? '', /host/i);
  } finally {
    await k.stop();
  }
});

s('with publicBaseUrl: the configured origin whatever the Host, publicly cacheable', async () => {
  const k = await startOAuth({ publicBaseUrl: 'https://auth.example.com' });
  try {
    const res = await request(k.url, 'GET', '/.well-known/oauth-authorization-server', {
      headers: { host: 'evil.example' },
    });
    assert.is(res.status, 200, res.text);
    assert.not.ok(res.text.includes('evil.example'), res.text);
    assert.is(res.body.token_endpoint, 'https://auth.example.com/v1/oauth/token');
    assert.is(res.headers.get('cache-control'), 'public, max-age=3600');
  } finally {
    await k.stop();
  }
});

s('publicBaseUrl is required outside development and test', () => {
  assert.throws(() => assertPublicBaseUrl({ publicBaseUrl: '' }, 'production'), /plugins\.oauth\.publicBaseUrl/);
  assert.not.throws(() => assertPublicBaseUrl({ publicBaseUrl: 'https://auth.example.com' }, 'production'));
  for (const env of [undefined, 'development', 'test'])
    assert.not.throws(() => assertPublicBaseUrl({ publicBaseUrl: '' }, env));
});

s.run();
