import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';
import { catalogs } from '../../scripts/catalog.ts';
import { generateContractTypes, generatedPath, syncContractTypes } from '../../scripts/contractTypes.ts';

test('every plugin\'s committed contract.gen.ts matches its contract (run `npm run cli -- types`)', () => {
  const stale = syncContractTypes(ROOT, Object.values(catalogs.plugins), 'check');
  assert.equal(stale, [], `stale generated types for: ${stale.join(', ')}; run \`npm run cli -- types\``);
});

test('a changed contract makes the generated file stale, and `types` rewrites it', () => {
  const root = mkdtempSync(join(tmpdir(), 'contract-types-'));
  try {
    cpSync(resolve(ROOT, 'contracts'), join(root, 'contracts'), { recursive: true });
    mkdirSync(join(root, 'plugins/notes'), { recursive: true });
    writeFileSync(generatedPath(root, 'notes'), readFileSync(generatedPath(ROOT, 'notes'), 'utf8'));
    const notes = [{ name: 'notes' }];
    assert.equal(syncContractTypes(root, notes, 'check'), [], 'a copy of the committed file is fresh');

    const file = join(root, 'contracts/notes.yaml');
    const withColor = readFileSync(file, 'utf8').replace(/\n( +)createdAt:/,
      '\n$1color: { type: string, enum: [red, blue] }\n$1createdAt:');
    assert.ok(withColor.includes('color:'), 'the fixture edit applies to contracts/notes.yaml');
    writeFileSync(file, withColor);
    assert.equal(syncContractTypes(root, notes, 'check'), ['notes']);
    assert.not.ok(readFileSync(generatedPath(root, 'notes'), 'utf8').includes('color'), 'check mode writes nothing');

    assert.equal(syncContractTypes(root, notes, 'write'), ['notes']);
    assert.match(readFileSync(generatedPath(root, 'notes'), 'utf8'), 'color?: "red" | "blue";');
    assert.equal(syncContractTypes(root, notes, 'check'), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('operations carry path params, defaulted query and body fields as present, and the 2xx body', () => {
  const text = generateContractTypes(resolve(ROOT, 'contracts'), 'notes.yaml');
  const create = text.slice(text.indexOf('"notes.create"'), text.indexOf('"notes.get"'));
  assert.match(create, /body: \{\n\s+title: string;\n\s+body: string;\n\s+pinned: boolean;/, 'defaults are filled in by validation');
  assert.match(create, 'response: Schemas["Note"];');
  const list = text.slice(text.indexOf('"notes.list"'), text.indexOf('"notes.create"'));
  assert.match(list, 'paging: true;');
  assert.match(list, /limit: number;\n\s+cursor\?: string;/);
  assert.match(text.slice(text.indexOf('"notes.delete"')), /response: void;/);
});

test.run();
