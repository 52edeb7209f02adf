import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Secrets } from '../ports/secrets.ts';
import { BootError } from '../config/problems.ts';

export interface SecretsConfig {
  /** KEKs: base64 of 32 random bytes each (`openssl rand -base64 32`). */
  keys: Array<{ id: string; secret: string }>;
  /** The KEK that seals new values; defaults to the first of `keys` (or the key file's). */
  activeKey?: string;
  /** Where the embedded default keeps a generated KEK when `keys` is empty; also read, if present, beside `keys`. */
  keyFile: string;
}

/** Sealed form: `sk1.<kekId>.<wrapped data key>.<iv>.<ciphertext>.<tag>`, base64url parts, AES-256-GCM both levels. */
const VERSION = 'sk1';
const FILE_KEY_ID = 'local';
const b64 = (b: Buffer) => b.toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url');

function gcm(key: Buffer, plaintext: Buffer, aad: string): { iv: Buffer; ct: Buffer; tag: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ct, tag: cipher.getAuthTag() };
}

function ungcm(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]);
}

/** AES-256-GCM envelope encryption with a per-value data key; KEKs by id, so they rotate. */
export function envelopeSecrets(keks: Map<string, Buffer>, activeKeyId: string): Secrets {
  const active = keks.get(activeKeyId);
  if (!active) throw new Error(`secrets: active key ${activeKeyId} is not among the keys`);
  return {
    activeKeyId,
    seal(plaintext, context) {
      const dek = randomBytes(32);
      // The data key is wrapped with the KEK id as associated data, the value with its context.
      const wrapped = gcm(active, dek, `${VERSION}.${activeKeyId}`);
      const sealed = gcm(dek, Buffer.from(plaintext, 'utf8'), context);
      return [
        VERSION,
        activeKeyId,
        b64(Buffer.concat([wrapped.iv, wrapped.ct, wrapped.tag])),
        b64(sealed.iv),
        b64(sealed.ct),
        b64(sealed.tag),
      ].join('.');
    },
    open(value, context) {
      const parts = value.split('.');
      if (parts.length !== 6 || parts[0] !== VERSION) throw new Error('secrets: not a sealed value');
      const [, kid, wrapped, iv, ct, tag] = parts;
      const kek = keks.get(kid);
      if (!kek)
        throw new Error(
          `secrets: unknown key-encryption key ${kid} (keep retired keys in secrets.keys until every value is re-sealed)`,
        );
      const w = unb64(wrapped);
      const dek = ungcm(
        kek,
        w.subarray(0, 12),
        w.subarray(12, w.length - 16),
        w.subarray(w.length - 16),
        `${VERSION}.${kid}`,
      );
      return ungcm(dek, unb64(iv), unb64(ct), unb64(tag), context).toString('utf8');
    },
    isSealed: (value): value is string => typeof value === 'string' && value.startsWith(`${VERSION}.`),
    needsReseal: (value) => value.split('.')[1] !== activeKeyId,
  };
}

function decodeKey(id: string, secret: string): Buffer {
  const key = Buffer.from(secret, 'base64');
  if (key.length !== 32)
    throw new BootError([
      `secrets.keys: key "${id}" must be 32 bytes in base64 (openssl rand -base64 32), got ${key.length} bytes`,
    ]);
  return key;
}

/**
 * KEKs from config, plus the key file when it exists. With no keys in config, the key file is
 * created on first boot (32 random bytes, mode 0600) and the log says so.
 */
export function loadSecrets(config: SecretsConfig, logger: Logger, cwd = process.cwd()): Secrets {
  const keks = new Map<string, Buffer>();
  for (const { id, secret } of config.keys) keks.set(id, decodeKey(id, secret));
  const file = resolve(cwd, config.keyFile);
  if (existsSync(file)) {
    keks.set(FILE_KEY_ID, decodeKey(FILE_KEY_ID, readFileSync(file, 'utf8').trim()));
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    if (!config.keys.length)
      logger.info({ keyFile: file }, 'secrets: encrypting stored secrets with the key in the key file (mode 0600)');
  } else if (!config.keys.length) {
    mkdirSync(dirname(file), { recursive: true });
    // Written aside, then linked into place: a process booting at the same time sees either no
    // file or a complete one, and the loser of the race uses the winner's key.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
    keks.set(FILE_KEY_ID, decodeKey(FILE_KEY_ID, readFileSync(file, 'utf8').trim()));
    logger.info(
      { keyFile: file },
      'secrets: generated a key-encryption key (mode 0600); back it up, or set secrets.keys in production',
    );
  }
  const activeKeyId = config.activeKey ?? config.keys[0]?.id ?? FILE_KEY_ID;
  if (!keks.has(activeKeyId))
    throw new BootError([
      `secrets.activeKey: "${activeKeyId}" is not among secrets.keys (${[...keks.keys()].join(', ')})`,
    ]);
  if (config.keys.length)
    logger.info({ keys: [...keks.keys()], active: activeKeyId }, 'secrets: key-encryption keys from config');
  return envelopeSecrets(keks, activeKeyId);
}
