// MUST NOT type-check (test/types/typecheck.test.ts): `lsit` is not a method of the notes service.
import { defineHandlers, defineServices } from '../../kernel/index.ts';
import type { Operations } from '../../plugins/notes/contract.gen.ts';
import { NotesService } from '../../plugins/notes/service.ts';

const services = defineServices()
  .scoped('notes', ({ em, publish, db }) => new NotesService(em, publish, db));

export const handlers = defineHandlers<Pick<Operations, 'notes.list'>, typeof services>({
  'notes.list': ({ query, paging }, { services }) => services.notes.lsit(query, paging), // expect-error: lsit
});
