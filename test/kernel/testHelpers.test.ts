import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startIdentity } from '../identity/helpers.ts';

const s = suite('test helpers: overrides are merged into the defaults, never replace them');

s('startIdentity({ plugins }) keeps the bootstrap admin and applies the override', async () => {
  const k = await startIdentity({
    plugins: { notes: { enabled: false } },
    identity: { requireEmailVerification: false },
  });
  try {
    assert.is((await k.login('root@example.com', 'Root#Passw0rd')).status, 200, 'the bootstrap admin still exists');
    assert.is((await k.request('GET', '/v1/notes')).status, 404, 'the plugins override applied too');
    assert.is(k.kernel.config.plugins.identity.requireEmailVerification, false, 'the identity shortcut applied');
  } finally {
    await k.stop();
  }
});

s.run();
