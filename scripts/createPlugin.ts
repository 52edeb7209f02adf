/**
 * `create-plugin NAME`: scaffolds a user-owned CRUD plugin whose typecheck and test pass straight away:
 * its contract, entity, plugin definition (a `records` service), first migration (written by `migrate create`),
 * contract types (written by `types`), a test written with the test kit, and its catalog entry.
 * Every template is a function of this file; nothing existing is overwritten.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from '../kernel/index.ts';
import { catalogs } from './catalog.ts';
import { syncContractTypes } from './contractTypes.ts';
import { migrateCreate } from './migrateCreate.ts';
import { ROOT } from './paths.ts';

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** The spellings of a plugin name: `reading-list` -> readingList, ReadingList, reading_list. */
export interface Names { name: string; camel: string; pascal: string; snake: string }

export function names(name: string): Names {
  const camel = name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return { name, camel, pascal: camel[0].toUpperCase() + camel.slice(1), snake: name.replace(/-/g, '_') };
}

/** Why `name` cannot be scaffolded in `root`, or undefined when it can. */
export function refusal(name: string | undefined, root = ROOT): string | undefined {
  if (!name) return 'create-plugin needs a NAME (lowercase letters, digits and dashes, e.g. bookmarks)';
  if (!NAME.test(name) || name.length > 24) {
    return `"${name}": a plugin name is up to 24 lowercase letters, digits and single dashes, starting with a letter`;
  }
  if (catalogs.plugins[name] || catalogs.plugins[names(name).camel]) return `"${name}" is already a plugin`;
  for (const path of files(names(name))) {
    if (existsSync(join(root, path))) return `${path} already exists; nothing was written`;
  }
  return undefined;
}

function files(n: Names): string[] {
  return [`contracts/${n.name}.yaml`, `plugins/${n.name}`, `test/${n.name}`];
}

export async function createPlugin(name: string | undefined, out: NodeJS.WritableStream = process.stdout) {
  const refused = refusal(name);
  if (refused || !name) { process.stderr.write(`${refused}\n`); return 2; }
  const n = names(name);
  const written: Record<string, string> = {
    [`contracts/${name}.yaml`]: contractTemplate(n),
    [`plugins/${name}/entities.ts`]: entitiesTemplate(n),
    [`plugins/${name}/index.ts`]: pluginTemplate(n),
    // Replaced by `migrate create` below; the plugin imports it from the start.
    [`plugins/${name}/migrations/index.ts`]: emptyMigrationsTemplate(),
    [`test/${name}/${name}.test.ts`]: testTemplate(n),
  };
  for (const [path, text] of Object.entries(written)) {
    mkdirSync(dirname(join(ROOT, path)), { recursive: true });
    writeFileSync(join(ROOT, path), text);
    out.write(`wrote ${path}\n`);
  }
  syncContractTypes(ROOT, [{ name }], 'write');
  out.write(`wrote plugins/${name}/contract.gen.ts (npm run cli -- types)\n`);
  const url = pathToFileURL(join(ROOT, 'plugins', name, 'index.ts')).href;
  const plugin = (await import(url) as { default: PluginDefinition }).default;
  const code = await migrateCreate(name, `create_${n.snake}`, out, plugin);
  if (code !== 0) return code;
  addToCatalog(n, out);
  out.write(`
${name}: scaffolded. Next:
  npm test -- ${name}                      run its test (the test kit enables it)
  enable it in a deployment: add \`${name}: {}\` under \`plugins:\` in your config (e.g. config/default.yaml)
  change contracts/${name}.yaml, then \`npm run cli -- types\`; change entities.ts, then
  \`npm run cli -- migrate create --plugin ${name} --name LABEL\`
`);
  return 0;
}

/** scripts/catalog.ts: one import line after the last plugin's, and the name in the `plugins` map. */
function addToCatalog(n: Names, out: NodeJS.WritableStream) {
  const file = join(ROOT, 'scripts', 'catalog.ts');
  const source = readFileSync(file, 'utf8');
  const lines = source.split('\n');
  const plugins = lines.map((l, i) => (/^import \w+ from '\.\.\/plugins\//.test(l) ? i : -1));
  const last = Math.max(...plugins);
  const map = /plugins: \{([^}]*)\}/;
  if (last < 0 || !map.test(source)) {
    out.write(`could not edit ${relative(ROOT, file)}: add \`${n.camel}\` to catalogs.plugins by hand\n`);
    return;
  }
  // An adapter may already be imported under the same name (`memory-cache` -> memoryCache).
  const id = new RegExp(`\\bimport ${n.camel}\\b`).test(source) ? `${n.camel}Plugin` : n.camel;
  lines.splice(last + 1, 0, `import ${id} from '../plugins/${n.name}/index.ts';`);
  const entry = id === n.name ? id : `'${n.name}': ${id}`;
  const render = (_: string, list: string) => {
    const entries = [...list.split(',').map((e) => e.trim()).filter(Boolean), entry];
    const line = `plugins: { ${entries.join(', ')} }`;
    return line.length <= 100 ? line : `plugins: {\n${entries.map((e) => `    ${e},`).join('\n')}\n  }`;
  };
  writeFileSync(file, lines.join('\n').replace(map, render));
  out.write(`added ${n.name} to scripts/catalog.ts\n`);
}

export function contractTemplate({ name, pascal }: Names): string {
  const item = `${pascal}Item`;
  const read = `      security: [{ bearerAuth: [] }, { apiKey: [] }]\n      x-permissions: ['${name}:read']`;
  const write = `      security: [{ bearerAuth: [] }, { apiKey: [] }]\n      x-permissions: ['${name}:write']`;
  const json = (schema: string) => `content: { application/json: { schema: ${schema} } }`;
  return `openapi: 3.1.0
info: { title: ${pascal}, version: 1.0.0 }
tags:
  - name: ${name}
    description: Each user's own ${name} items. Another user's item is a 404.
paths:
  /${name}:
    get:
      operationId: ${name}.list
      x-paging: true
      tags: [${name}]
${read}
      summary: List my items, newest first
      parameters:
        - $ref: '#/components/parameters/Limit'
        - $ref: '#/components/parameters/Cursor'
      responses:
        '200':
          description: A page of items.
          content:
            application/json:
              schema:
                type: object
                required: [data, pagination]
                properties:
                  data: { type: array, items: { $ref: '#/components/schemas/${item}' } }
                  pagination: { $ref: '#/components/schemas/Pagination' }
        '400': { $ref: '#/components/responses/BadRequest' }
    post:
      operationId: ${name}.create
      x-idempotent: true
      tags: [${name}]
${write}
      summary: Create an item (emits ${name}.item.created)
      requestBody:
        required: true
        ${json(`{ $ref: '#/components/schemas/${item}Create' }`)}
      responses:
        '201':
          description: Created.
          ${json(`{ $ref: '#/components/schemas/${item}' }`)}
        '400': { $ref: '#/components/responses/BadRequest' }
  /${name}/{id}:
    parameters:
      - $ref: '#/components/parameters/IdPath'
    get:
      operationId: ${name}.get
      tags: [${name}]
${read}
      summary: Get one of my items
      responses:
        '200':
          description: The item.
          ${json(`{ $ref: '#/components/schemas/${item}' }`)}
        '404': { $ref: '#/components/responses/NotFound' }
    patch:
      operationId: ${name}.update
      tags: [${name}]
${write}
      summary: Change one of my items
      requestBody:
        required: true
        ${json(`{ $ref: '#/components/schemas/${item}Update' }`)}
      responses:
        '200':
          description: The changed item.
          ${json(`{ $ref: '#/components/schemas/${item}' }`)}
        '400': { $ref: '#/components/responses/BadRequest' }
        '404': { $ref: '#/components/responses/NotFound' }
    delete:
      operationId: ${name}.delete
      tags: [${name}]
${write}
      summary: Delete one of my items
      responses:
        '204': { description: Deleted. }
        '404': { $ref: '#/components/responses/NotFound' }
components:
  schemas:
    ${item}:
      type: object
      additionalProperties: false
      required: [id, title, body, createdAt, updatedAt]
      properties:
        id: { $ref: '#/components/schemas/Id' }
        title: { type: string }
        body: { type: string }
        createdAt: { type: string, format: date-time }
        updatedAt: { type: string, format: date-time }
    ${item}Create:
      type: object
      additionalProperties: false
      required: [title]
      properties:
        title: { type: string, minLength: 1, maxLength: 200 }
        body: { type: string, maxLength: 20000, default: '' }
    ${item}Update:
      type: object
      additionalProperties: false
      minProperties: 1
      properties:
        title: { type: string, minLength: 1, maxLength: 200 }
        body: { type: string, maxLength: 20000 }
`;
}

export function entitiesTemplate({ pascal, snake }: Names): string {
  return `import { defineEntity, p } from '../../kernel/index.ts';

/** A user's item: \`ownedBy\` scopes every read, update and delete to the caller and stamps the owner. */
export const ${pascal}Item = defineEntity('${pascal}Item', {
  table: '${snake}_items',
  properties: {
    id: p.id(),
    ownerId: p.string({ length: 36 }),
    title: p.string({ length: 200 }),
    body: p.text(),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['ownerId'] }],
  ownedBy: 'ownerId',
});
`;
}

export function pluginTemplate({ name, pascal }: Names): string {
  return `import { definePlugin, defineHandlers, defineServices, records } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import { ${pascal}Item } from './entities.ts';
import { generated } from './migrations/index.ts';

// Made per request: \`records\` works through the request's \`em\` and \`db\`, which the kernel scopes to
// the caller because the entity is \`ownedBy\` (another user's item is a 404).
const services = defineServices()
  .scoped('items', (c) => records(c, ${pascal}Item, { events: { created: '${name}.item.created' } }));

/** Each user's own ${name} items (scaffolded by \`npm run cli -- create-plugin ${name}\`). */
export default definePlugin({
  name: '${name}',
  version: '0.1.0',
  description: 'Each user\\'s own ${name} items.',
  entities: [${pascal}Item],
  migrations: generated,
  services,
  permissions: [
    { name: '${name}:read', description: 'Read my ${name} items', roles: ['user'] },
    { name: '${name}:write', description: 'Change my ${name} items', roles: ['user'] },
  ],
  // The payload is the item's view (what \`get\` answers).
  events: [{ name: '${name}.item.created', schema: { type: 'object', required: ['id', 'title'] } }],
  handlers: defineHandlers<Operations, typeof services>({
    '${name}.list': ({ paging }, { services }) => services.items.list(paging),
    '${name}.create': ({ body }, { services }) => services.items.create(body),
    '${name}.get': ({ params }, { services }) => services.items.get(params.id),
    '${name}.update': ({ params, body }, { services }) => services.items.update(params.id, body),
    '${name}.delete': ({ params }, { services }) => services.items.delete(params.id),
  }),
});
`;
}

function emptyMigrationsTemplate(): string {
  return `import type { Migration } from '../../../kernel/index.ts';

export const generated: Migration[] = [];
`;
}

export function testTemplate({ name }: Names): string {
  return `/** Written with the test kit (test/kit/index.ts): what the ${name} plugin promises its callers. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import plugin from '../../plugins/${name}/index.ts';
import { startTestKernel, assertError, type TestKit } from '../kit/index.ts';

const s = suite('${name}: each user\\'s own items');
let k: TestKit;
// The kit enables the given plugin on top of the default deployment.
s.before(async () => { k = await startTestKernel({ plugins: [plugin] }); });
s.after(() => k.stop());

s('a user creates, lists, gets, changes and deletes an item', async () => {
  const alice = await k.asUser('alice');
  const created = await alice.post('/v1/${name}', { title: 'First' });
  assert.is(created.status, 201, created.text);
  const id = created.body.id as string;
  const got = await alice.get(\`/v1/${name}/\${id}\`);
  assert.is(got.status, 200, got.text);
  assert.is(got.body.title, 'First');
  const list = await alice.get('/v1/${name}');
  assert.is(list.status, 200, list.text);
  assert.equal(list.body.data.map((i: { id: string }) => i.id), [id]);
  const changed = await alice.patch(\`/v1/${name}/\${id}\`, { body: 'more' });
  assert.is(changed.body.body, 'more');
  assert.is((await alice.delete(\`/v1/${name}/\${id}\`)).status, 204);
  assertError(await alice.get(\`/v1/${name}/\${id}\`), 404);
});

s('another user\\'s item is a 404 and not in my list', async () => {
  const alice = await k.asUser('alice');
  const bob = await k.asUser('bob');
  const id = (await alice.post('/v1/${name}', { title: 'Private' })).body.id as string;
  assertError(await bob.get(\`/v1/${name}/\${id}\`), 404);
  assertError(await bob.patch(\`/v1/${name}/\${id}\`, { title: 'Mine now' }), 404);
  assertError(await bob.delete(\`/v1/${name}/\${id}\`), 404);
  assert.equal((await bob.get('/v1/${name}')).body.data, []);
  assert.is((await alice.get(\`/v1/${name}/\${id}\`)).body.title, 'Private');
});

s('an anonymous caller gets 401', async () => {
  assertError(await k.get('/v1/${name}'), 401);
  assertError(await k.post('/v1/${name}', { title: 'x' }), 401);
});

s.run();
`;
}
