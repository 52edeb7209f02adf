import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadSecrets } from '../../kernel/secrets/envelope.ts';

const s = suite('secrets: envelope encryption at rest');
const key = () => randomBytes(32).toString('base64');
const silent = pino({ level: 'silent' });

s('seal/open round-trips; the context is bound; tampering and unknown keys are refused', () => {
  const secrets = loadSecrets(
    { keys: [{ id: 'a', secret: key() }], keyFile: join(mkdtempSync(join(tmpdir(), 'sk-')), 'none.key') },
    silent,
  );
  const sealed = secrets.seal('JBSWY3DPEHPK3PXP', 'identity.mfa:u1');
  assert.ok(secrets.isSealed(sealed));
  assert.not.ok(sealed.includes('JBSWY3DPEHPK3PXP'));
  assert.is.not(secrets.seal('JBSWY3DPEHPK3PXP', 'identity.mfa:u1'), sealed, 'a fresh data key and iv per value');
  assert.is(secrets.open(sealed, 'identity.mfa:u1'), 'JBSWY3DPEHPK3PXP');
  assert.throws(() => secrets.open(sealed, 'identity.mfa:u2'), 'another row cannot open it');
  const parts = sealed.split('.');
  parts[4] = Buffer.from('x'.repeat(16)).toString('base64url');
  assert.throws(() => secrets.open(parts.join('.'), 'identity.mfa:u1'), 'altered ciphertext');
  const other = loadSecrets({ keys: [{ id: 'b', secret: key() }], keyFile: '/nonexistent/none.key' }, silent);
  assert.throws(() => other.open(sealed, 'identity.mfa:u1'), /unknown key-encryption key a/);
});

s('rotation: a new active key seals, the old key still opens, needsReseal tells which values to re-seal', () => {
  const a = { id: 'a', secret: key() };
  const b = { id: 'b', secret: key() };
  const before = loadSecrets({ keys: [a], keyFile: '/nonexistent/none.key' }, silent);
  const old = before.seal('private jwk', 'ctx');
  const after = loadSecrets({ keys: [b, a], keyFile: '/nonexistent/none.key' }, silent);
  assert.is(after.activeKeyId, 'b');
  assert.is(after.open(old, 'ctx'), 'private jwk');
  assert.ok(after.needsReseal(old));
  assert.not.ok(after.needsReseal(after.seal('x', 'ctx')));
});

s('the embedded default generates its key file with mode 0600 and says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-'));
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } });
  const first = loadSecrets({ keys: [], keyFile: './data/secrets.key' }, logger, dir);
  const file = join(dir, 'data/secrets.key');
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32);
  assert.ok(lines.some((l) => /generated a key-encryption key/.test(l) && l.includes(file)), lines.join(''));
  const sealed = first.seal('v', 'c');
  assert.is(
    loadSecrets({ keys: [], keyFile: './data/secrets.key' }, silent, dir).open(sealed, 'c'),
    'v',
    'the next boot reads the same key',
  );
  assert.ok(lines.every((l) => !l.includes(readFileSync(file, 'utf8').trim())), 'the key itself is never logged');
});

s.run();
