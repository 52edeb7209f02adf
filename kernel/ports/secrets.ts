/**
 * Secrets port: envelope encryption for secrets a plugin must store and read back (private
 * signing keys, TOTP seeds, webhook secrets). Each value gets its own data key, wrapped by a
 * key-encryption key (KEK) from config; the sealed text names its KEK, so KEKs rotate without
 * re-encrypting everything at once. The kernel provides it as `secrets` in every plugin's container.
 */
export interface Secrets {
  /** Id of the KEK that seals new values. */
  readonly activeKeyId: string;
  /**
   * Encrypts `plaintext`. `context` (e.g. `identity.mfa:<userId>`) is bound to the ciphertext
   * as associated data: the sealed value opens only with the same context, so it cannot be moved
   * to another row.
   */
  seal(plaintext: string, context: string): string;
  /** Decrypts a value made by `seal` with the same context; throws if it was altered or its KEK is unknown. */
  open(sealed: string, context: string): string;
  /** Whether `value` is a sealed value (as opposed to legacy plaintext). */
  isSealed(value: unknown): value is string;
  /** Whether a sealed value uses a KEK other than the active one (re-seal it to finish a rotation). */
  needsReseal(sealed: string): boolean;
}
