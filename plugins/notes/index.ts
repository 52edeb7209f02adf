import { definePlugin, defineHandlers, defineServices, records } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import { Note, NoteActivity } from './entities.ts';
import { migrations } from './migrations.ts';
import { activitySubscriber } from './activity.ts';
import { digest } from './digest.ts';

// Made per request: `records` reads and writes through the request's `em` and `db`, which the
// kernel scopes to the caller because `Note` is `ownedBy` (another user's note is a 404).
const services = defineServices()
  .scoped('notes', (c) => records(c, Note, { events: { created: 'notes.note.created' } }))
  .scoped('activity', (c) => records(c, NoteActivity));

/**
 * The example plugin: a contract (contracts/notes.yaml), entities, a request-scoped records
 * service, handlers keyed by operationId, a declared event and an idempotent subscriber.
 * Who may call is in the contract (`security`, `x-permissions`); whose rows are seen, in `ownedBy`.
 */
export default definePlugin({
  name: 'notes',
  version: '1.0.0',
  description: 'Example plugin: notes with paging, a tag filter, an event and an activity log.',
  entities: [Note, NoteActivity],
  migrations,
  services,
  permissions: [
    { name: 'notes:read', description: 'Read notes', roles: ['user'] },
    { name: 'notes:write', description: 'Create, change and delete notes', roles: ['user'] },
  ],
  jobs: { 'notes.digest': digest },
  events: [{
    name: 'notes.note.created',
    schema: { type: 'object', required: ['id', 'title'], properties: { id: { type: 'string' } } },
  }],
  subscribers: [activitySubscriber],
  handlers: defineHandlers<Operations, typeof services>({
    'notes.list': ({ query, paging }, { services }) =>
      services.notes.list(paging, { pinned: query.pinned, tags: query.tag }),
    'notes.create': ({ body }, { services }) => services.notes.create(body),
    'notes.get': ({ params }, { services }) => services.notes.get(params.id),
    'notes.update': ({ params, body }, { services }) => services.notes.update(params.id, body),
    'notes.delete': ({ params }, { services }) => services.notes.delete(params.id),
    'notes.activity': async ({ params }, { services: { notes, activity } }) => {
      await notes.get(params.id); // another user's note: 404
      return { data: await activity.all({ noteId: params.id }, { orderBy: 'occurredAt' }) };
    },
  }),
});
