import type { Column, IndexDef, SchemaDifference, TableDifference } from '@mikro-orm/knex';
import type { MikroORM } from '@mikro-orm/core';
import type { EntitySpec, PropertySpec } from './entity.ts';
import type { Migration } from './migrations.ts';
import { compareSchema, scratchSchema } from './drift.ts';

/**
 * `migrate create`: what the plugin's entities declare and its migrations do not build yet,
 * written as a migration of knex schema-builder calls, so the one file runs on SQLite and
 * PostgreSQL alike. The difference comes from MikroORM's SchemaComparator on a scratch SQLite
 * database built by the existing migrations (kernel/storage/drift.ts). What knex cannot say
 * portably is written as a `TODO` that fails `tsc`-free review: the file throws until edited.
 */
export interface WrittenMigration { name: string; source: string; sql: string; todos: string[] }

export async function writeMigration(
  plugin: string, entities: EntitySpec[], migrations: Migration[], label: string, importFrom: string,
): Promise<WrittenMigration | null> {
  const orm = await scratchSchema(plugin, entities, migrations);
  try {
    const { diff, generator } = await compareSchema(orm);
    const sql = (await generator.diffToSQL(diff, { wrap: false, safe: false, dropTables: false })).trim();
    if (!sql) return null;
    const name = `${nextNumber(migrations)}_${label.replace(/[^a-z0-9_]+/gi, '_').toLowerCase()}`;
    const todos: string[] = [];
    declared = declaredColumns(orm, entities);
    const up = upCalls(diff, todos);
    const down = downCalls(diff, todos);
    const source = render({ plugin, name, label, importFrom, up, down, sql, todos });
    return { name, source, sql, todos };
  } finally {
    await orm.close(true);
  }
}

/** `table.column` -> the entity's property: SQLite's introspected types are too coarse (a string is `text` there). */
let declared = new Map<string, PropertySpec>();

function declaredColumns(orm: MikroORM, entities: EntitySpec[]): Map<string, PropertySpec> {
  const out = new Map<string, PropertySpec>();
  for (const spec of entities) {
    const meta = orm.getMetadata().find(spec.name);
    if (!meta) continue;
    out.set(`${meta.tableName}.id`, { type: 'string', length: 36 });
    for (const [name, prop] of Object.entries(spec.properties)) {
      const field = meta.properties[name]?.fieldNames?.[0];
      if (field) out.set(`${meta.tableName}.${field}`, prop);
    }
    if (spec.timestamps) {
      out.set(`${meta.tableName}.created_at`, { type: 'datetime' });
      out.set(`${meta.tableName}.updated_at`, { type: 'datetime' });
    }
  }
  return out;
}

const BUILDERS: Record<PropertySpec['type'], (n: string, p: PropertySpec) => string> = {
  string: (n, p) => `t.string(${n}, ${p.length ?? 255})`, text: (n) => `t.text(${n})`,
  integer: (n) => `t.integer(${n})`,
  bigint: (n) => `t.bigInteger(${n})`, number: (n) => `t.double(${n})`, boolean: (n) => `t.boolean(${n})`,
  datetime: (n) => `t.datetime(${n})`, json: (n) => `t.jsonb(${n})`,
};

function nextNumber(migrations: Migration[]): string {
  const numbers = migrations.map((m) => Number(/^(\d+)/.exec(m.name)?.[1] ?? 0));
  return String(Math.max(0, ...numbers) + 1).padStart(4, '0');
}

function upCalls(diff: SchemaDifference, todos: string[]): string[] {
  const out: string[] = [];
  for (const table of Object.values(diff.newTables)) {
    const lines = table.getColumns().map((c) => column(c, todos, false, table.name));
    const pk = table.getPrimaryKey();
    if (pk) lines.push(`t.primary(${list(pk.columnNames)});`);
    for (const index of table.getIndexes().filter((i) => !i.primary)) lines.push(addIndex(index));
    out.push(alter('createTable', table.name, lines));
  }
  for (const t of Object.values(diff.changedTables)) {
    const lines: string[] = [];
    for (const c of Object.values(t.addedColumns)) lines.push(column(c, todos, true, t.name));
    for (const c of Object.values(t.changedColumns)) {
      lines.push(column(c.column, todos, false, t.name).replace(/;$/, '.alter();'));
    }
    for (const name of Object.keys(t.removedColumns)) lines.push(`t.dropColumn(${str(name)});`);
    lines.push(...indexChanges(t, 'up'));
    todoForRest(t, todos);
    if (lines.length) out.push(alter('alterTable', t.name, lines));
  }
  return out;
}

function downCalls(diff: SchemaDifference, todos: string[]): string[] {
  const out: string[] = [];
  for (const t of Object.values(diff.changedTables).reverse()) {
    const lines: string[] = [];
    lines.push(...indexChanges(t, 'down'));
    for (const name of Object.keys(t.addedColumns)) lines.push(`t.dropColumn(${str(name)});`);
    for (const c of Object.values(t.changedColumns)) lines.push(column(c.fromColumn, todos).replace(/;$/, '.alter();'));
    for (const c of Object.values(t.removedColumns)) lines.push(column(c, todos, true));
    if (lines.length) out.push(alter('alterTable', t.name, lines));
  }
  for (const table of Object.values(diff.newTables).reverse()) {
    out.push(`await knex.schema.dropTable(${str(table.name)});`);
  }
  return out;
}

function indexChanges(t: TableDifference, direction: 'up' | 'down'): string[] {
  const added = direction === 'up' ? t.addedIndexes : t.removedIndexes;
  const removed = direction === 'up' ? t.removedIndexes : t.addedIndexes;
  const lines: string[] = [];
  for (const i of [...Object.values(removed), ...Object.values(t.changedIndexes)].filter((x) => !x.primary)) {
    const args = `${list(i.columnNames)}, ${str(i.keyName)}`;
    lines.push(i.unique ? `t.dropUnique(${args});` : `t.dropIndex(${args});`);
  }
  const adding = [...Object.values(added), ...Object.values(t.changedIndexes)].filter((x) => !x.primary);
  for (const i of adding) lines.push(addIndex(i));
  return lines;
}

function todoForRest(t: TableDifference, todos: string[]) {
  const rest = { ...t.renamedColumns, ...t.renamedIndexes, ...t.addedForeignKeys, ...t.changedForeignKeys,
    ...t.removedForeignKeys };
  if (Object.keys(rest).length) {
    todos.push(`${t.name}: renames or foreign keys (see the SQL below) need writing by hand`);
  }
}

function addIndex(i: IndexDef): string {
  return i.unique ? `t.unique(${list(i.columnNames)}, { indexName: ${str(i.keyName)} });`
    : `t.index(${list(i.columnNames)}, ${str(i.keyName)});`;
}

/** One column as a knex builder call, from MikroORM's mapped type (the same on every SQL driver). */
function column(c: Column, todos: string[], adding = false, table?: string): string {
  const type = c.mappedType?.constructor?.name ?? '';
  const n = str(c.name);
  const prop = table ? declared.get(`${table}.${c.name}`) : undefined;
  const builders: Record<string, string> = {
    StringType: `t.string(${n}, ${c.length ?? 255})`, TextType: `t.text(${n})`, IntegerType: `t.integer(${n})`,
    SmallIntType: `t.smallint(${n})`, BigIntType: `t.bigInteger(${n})`, DoubleType: `t.double(${n})`,
    FloatType: `t.float(${n})`,
    DecimalType: `t.decimal(${n}, ${c.precision ?? 10}, ${c.scale ?? 0})`, BooleanType: `t.boolean(${n})`,
    DateTimeType: `t.datetime(${n})`, DateType: `t.date(${n})`, JsonType: `t.jsonb(${n})`, UuidType: `t.uuid(${n})`,
  };
  let call = prop ? BUILDERS[prop.type](n, prop) : builders[type];
  if (!call) {
    todos.push(`column ${c.name}: type ${c.type} (${type}) has no portable knex builder`);
    call = `t.specificType(${n}, ${str(c.type)})`;
  }
  call += c.nullable ? '.nullable()' : '.notNullable()';
  const def = defaultOf(c, prop);
  if (def !== undefined) call += `.defaultTo(${def})`;
  else if (adding && !c.nullable) {
    todos.push(`column ${c.name}: not null without a default; existing rows need a value `
      + '(add .defaultTo or a data step)');
  }
  return `${call};`;
}

function defaultOf(c: Column, prop?: PropertySpec): string | undefined {
  const d = c.default;
  if (d === undefined || d === null || d.toLowerCase() === 'null') return undefined;
  const type = c.mappedType?.constructor?.name;
  if (type === 'BooleanType' || prop?.type === 'boolean') return String(!['0', 'false', "'0'", "'false'"].includes(d));
  if (/^-?\d+(\.\d+)?$/.test(d)) return d;
  const quoted = /^'(.*)'$/s.exec(d);
  if (quoted) return str(quoted[1].replace(/''/g, "'"));
  return `knex.raw(${str(d)})`;
}

function alter(method: 'createTable' | 'alterTable', table: string, lines: string[]): string {
  return `await knex.schema.${method}(${str(table)}, (t) => {\n${lines.map((l) => `      ${l}`).join('\n')}\n    });`;
}

const str = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const list = (names: string[]) => `[${names.map(str).join(', ')}]`;

interface Parts {
  plugin: string;
  name: string;
  label: string;
  importFrom: string;
  up: string[];
  down: string[];
  sql: string;
  todos: string[];
}

/** A long SQL line cut after its commas, so the review comment stays within the 120-character lines. */
function wrapSql(line: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const part of line.split(/(?<=, )/)) {
    if (current && current.length + part.length > 100) { out.push(current.trimEnd()); current = '  '; }
    current += part;
  }
  return [...out, current];
}

function render(o: Parts): string {
  const body = (calls: string[]) => (calls.length ? calls.map((c) => `    ${c}`).join('\n') : '    // nothing');
  const todo = o.todos.length
    ? `    throw new Error('migration ${o.name} is not finished: ${o.todos.length} TODO(s) above');\n` : '';
  const sql = o.sql.split('\n').flatMap(wrapSql).map((l) => ` *   ${l}`).join('\n');
  return `import type { Migration } from '${o.importFrom}';

/**
 * Generated by \`npm run cli -- migrate create --plugin ${o.plugin} --name ${o.label}\`: the
 * difference between the plugin's entities and the schema its earlier migrations build.
 * Knex's schema builder keeps it portable (SQLite and PostgreSQL). Review it, then commit it.
${o.todos.map((t) => ` * TODO: ${t}`).join('\n')}${o.todos.length ? '\n' : ''} *
 * The same change in SQLite's SQL, for review:
${sql}
 */
export const migration: Migration = {
  name: '${o.name}',
  async up(knex) {
${todo}${body(o.up)}
  },
  async down(knex) {
${body(o.down)}
  },
};
`;
}
