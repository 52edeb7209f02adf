import { definePlugin, defineHandlers, defineServices, reply } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import type { NoteActivityRow } from './entities.ts';
import { Note, NoteActivity } from './entities.ts';
import { migrations } from './migrations.ts';
import { NotesService } from './service.ts';
import { activitySubscriber } from './activity.ts';
import { digest } from './digest.ts';

// Scoped to the request: it holds the request's EntityManager, which the kernel scopes to the notes' owner.
const services = defineServices()
  .scoped('notes', ({ em, publish, db }) => new NotesService(em, publish, db));

/**
 * The example plugin: a contract (contracts/notes.yaml), entities, migrations, a
 * request-scoped service, handlers keyed by operationId, an emitted event and a subscriber.
 * Notes are user-owned: `security` + `x-permissions` in the contract say who may call, and
 * `ownedBy` on the entity makes the kernel scope every query to the caller (object-level authorisation by default).
 */
export default definePlugin({
  name: 'notes',
  version: '1.0.0',
  description: 'Example plugin: notes with paging, an event and an activity log.',
  config: {
    type: 'object',
    additionalProperties: false,
    properties: {},
  },
  entities: [Note, NoteActivity],
  migrations,
  services,
  exports: [],
  permissions: [
    { name: 'notes:read', description: 'Read notes', roles: ['user'] },
    { name: 'notes:write', description: 'Create, change and delete notes', roles: ['user'] },
  ],
  subscribers: [activitySubscriber],
  jobs: { 'notes.digest': digest },
  events: [{
    name: 'notes.note.created',
    schema: {
      type: 'object', required: ['id', 'title'],
      properties: { id: { type: 'string' }, title: { type: 'string' } },
    },
  }],
  handlers: defineHandlers<Operations, typeof services>({
    'notes.list': ({ query, paging }, { services }) => services.notes.list(query, paging),
    'notes.create': ({ body }, { services }) => services.notes.create(body),
    'notes.get': ({ params }, { services }) => services.notes.get(params.id),
    'notes.update': ({ params, body }, { services }) => services.notes.update(params.id, body),
    'notes.delete': async ({ params }, { services }) => {
      await services.notes.delete(params.id);
      return reply(204);
    },
    'notes.activity': async ({ params }, { em, services }) => {
      await services.notes.load(params.id);
      const rows = await em.find<NoteActivityRow>(
        'NoteActivity',
        { noteId: params.id },
        { orderBy: { occurredAt: 'asc' } },
      );
      return {
        data: rows.map((r) => ({
          eventId: r.eventId,
          action: r.action,
          deliveries: r.deliveries,
          occurredAt: new Date(r.occurredAt).toISOString(),
        })),
      };
    },
  }),
});
