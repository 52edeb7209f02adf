import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Argon2Pool } from './argon2Pool.ts';

/** Opaque secrets: 256 bits, URL-safe. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Stored form of a high-entropy secret (refresh tokens, API keys, reset tokens). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** argon2id with OWASP parameters (m=19456 KiB, t=2, p=1), hashed in low-priority worker threads (off the loop). */
// algorithm 2 = Argon2id (the package's const enum is not importable under isolatedModules).
const ARGON2 = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** Made on first use, so a config check at boot does not start threads. */
let pool: Argon2Pool | undefined;
const argon2 = () => (pool ??= new Argon2Pool());

export async function hashPassword(password: string): Promise<string> {
  return argon2().hash(password, ARGON2);
}

/** Stops the hashing threads (plugin shutdown). */
export async function closePasswordHashing(): Promise<void> {
  await pool?.close();
  pool = undefined;
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await argon2().verify(stored, password);
  } catch {
    return false;
  }
}

/** A real hash to verify against when the account does not exist, so timing does not reveal it. */
let decoy: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  decoy ??= hashPassword(randomToken(16));
  await verifyPassword(await decoy, password);
}
