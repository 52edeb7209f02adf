// MUST NOT type-check (test/types/typecheck.test.ts): `lsit` is not a method of the notes service.
import { defineHandlers, defineServices, records } from '../../kernel/index.ts';
import type { Operations } from '../../plugins/notes/contract.gen.ts';
import { Note } from '../../plugins/notes/entities.ts';

const services = defineServices()
  .scoped('notes', (c) => records(c, Note));

export const handlers = defineHandlers<Pick<Operations, 'notes.list'>, typeof services>({
  'notes.list': ({ paging }, { services }) => services.notes.lsit(paging), // expect-error: lsit
});
