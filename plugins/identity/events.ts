import type { EventDefinition } from '../../kernel/index.ts';

const id = { type: 'string', minLength: 1 };
const text = { type: 'string' };
const orNull = { type: ['string', 'null'] };
const object = (properties: Record<string, object>, required = Object.keys(properties)) =>
  ({ type: 'object', properties, required, additionalProperties: false });

/** What identity publishes (all through the outbox); subscribers elsewhere may rely on these payloads. */
export const identityEvents: EventDefinition[] = [
  { name: 'identity.user.registered', schema: object({ id, email: text, name: text }) },
  { name: 'identity.user.updated', schema: object({ id, fields: { type: 'array', items: text } }) },
  { name: 'identity.user.deleted', schema: object({ id }) },
  {
    name: 'identity.user.standing_changed',
    description: 'Credentials issued before `version` no longer hold: suspension, role change, password reset...',
    schema: object({ id, reason: text, version: { type: 'integer' } }),
  },
  { name: 'identity.session.revoked', schema: object({ sessionId: id, userId: id, reason: text }) },
  { name: 'identity.email.verification_requested', schema: object({ email: text }) },
  { name: 'identity.email.change_requested', schema: object({ id, newEmail: text }) },
  { name: 'identity.password.reset_requested', schema: object({ email: text, ip: orNull, userAgent: orNull }) },
];
