// MUST NOT type-check (test/types/typecheck.test.ts): the handler returns a note whose `pinned` is a string.
import { defineHandlers, defineServices } from '../../kernel/index.ts';
import type { Operations } from '../../plugins/notes/contract.gen.ts';

const services = defineServices();

export const handlers = defineHandlers<Pick<Operations, 'notes.get'>, typeof services>({
  'notes.get': ({ params }) => ({
    id: params.id, title: 't', body: '', pinned: 'yes', createdAt: '', updatedAt: '', // expect-error: pinned
  }),
});
