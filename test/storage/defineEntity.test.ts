import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defineEntity, p, type CreateOf, type RowOf } from '../../kernel/index.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { Note, type NoteRow } from '../../plugins/notes/entities.ts';

/** defineEntity: the row type is inferred (checked by tsc here), the schema is what MikroORM needs. */
const s = suite('storage: defineEntity');

const Sample = defineEntity('Sample', {
  table: 'test_samples',
  properties: {
    id: p.id(),
    ownerId: p.string({ length: 36 }),
    label: p.string({ nullable: true }),
    count: p.integer({ default: 0 }),
    tags: p.array(p.string()),
    data: p.json<{ a: number }>(),
    at: p.datetime(),
    createdAt: p.createdAt(),
  },
  indexes: [{ properties: ['ownerId', 'at'] }],
  ownedBy: 'ownerId',
});
type SampleRow = RowOf<typeof Sample>;

// Compile-time checks: each line fails `tsc` (the first step of `npm test`) if the inference regresses.
const row: SampleRow = {
  id: 'x', ownerId: 'u', label: null, count: 1, tags: ['a'], data: { a: 1 }, at: new Date(), createdAt: new Date(),
};
// @ts-expect-error a non-nullable property is not null
const badNull: SampleRow['ownerId'] = null;
// @ts-expect-error an array of strings holds strings
const badTags: SampleRow['tags'] = [1];
// @ts-expect-error no such property
row.nope = 1;
const create: CreateOf<typeof Sample> = { label: 'only what has no default', data: { a: 2 }, at: new Date() };
// @ts-expect-error `at` has no default, so create needs it
const badCreate: CreateOf<typeof Sample> = { label: null, data: { a: 2 } };
const note: NoteRow['tags'] = ['t'];
void [badNull, badTags, create, badCreate, note];

s('camelCase properties become snake_case columns; indexes and the owner filter are in the schema', () => {
  const meta = toEntitySchema(Sample, 'sqlite').meta;
  assert.is(meta.tableName, 'test_samples');
  assert.equal(meta.indexes.map((i) => i.properties), [['ownerId', 'at']]);
  assert.ok(meta.filters.owner, 'ownedBy gives the owner filter');
  assert.is(meta.properties.count.default, 0);
  assert.not.ok(toEntitySchema(Sample, 'sqlite').meta.properties.id.nullable);
});

s('the notes entity declares its owner, its tags and its index once', () => {
  assert.is(Note.ownedBy, 'ownerId');
  assert.is(Note.properties.tags.type, 'json');
  assert.equal(Note.indexes, [{ properties: ['ownerId'] }]);
});

s('ownedBy must name a declared property', () => {
  assert.throws(() => defineEntity('Broken', {
    table: 't', properties: { id: p.id() }, ownedBy: 'userId' as never,
  }), /ownedBy names userId/);
});

s.run();
