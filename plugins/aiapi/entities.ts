import { defineEntity, p, type RowOf } from '../../kernel/index.ts';

/**
 * A user's own vendor key (seed 000). `sealedKey` is the key sealed with the deployment's secrets (AES-256-GCM
 * envelope, context bound to owner and row), never returned; `hint` is what clients see of it.
 */
export const AiCredential = defineEntity('AiCredential', {
  table: 'aiapi_credentials',
  properties: {
    id: p.id(),
    ownerId: p.string({ length: 36 }),
    /** The `aiProvider` registry name the key is for (`openai`, `claude`, `qwen`...). */
    vendor: p.string({ length: 50 }),
    label: p.string({ length: 100 }),
    sealedKey: p.text({ hidden: true }),
    hint: p.string({ length: 20 }),
    /** Used for every call of the owner's to this vendor when the request names no credential. */
    isDefault: p.boolean({ default: false }),
    lastUsedAt: p.datetime({ nullable: true }),
    lastTestedAt: p.datetime({ nullable: true }),
    lastTestOk: p.boolean({ nullable: true }),
    createdAt: p.createdAt(),
  },
  indexes: [{ properties: ['ownerId', 'vendor'] }],
  ownedBy: 'ownerId',
});
export type AiCredentialRow = RowOf<typeof AiCredential>;
