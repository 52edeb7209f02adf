/**
 * `create-plugin` end to end: scaffolds into a throwaway copy of the repository (its files, with
 * node_modules symlinked), then the copy's typecheck and the generated test must pass there.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

const s = suite('cli: create-plugin scaffolds a plugin whose typecheck and test pass straight away');
let copy: string;
// A dashed name no one uses: the copy holds the worktree's files, so a scaffolded `bookmarks` may be there.
const NAME = 'scaffold-probe';

function run(command: string, args: string[], timeout = 120_000) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test' };
  const r = spawnSync(command, args, { cwd: copy, env, encoding: 'utf8', timeout });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/cli.ts', ...args]);

s.before(() => {
  copy = mkdtempSync(join(tmpdir(), 'create-plugin-'));
  // The repository's files as they are on disk (tracked, and new ones not ignored).
  const listed = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'],
    { cwd: ROOT, encoding: 'utf8' });
  assert.is(listed.status, 0, listed.stderr);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(ROOT, file), join(copy, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
});
s.after(() => rmSync(copy, { recursive: true, force: true }));

s('bad and taken names are refused, and nothing is written', () => {
  for (const name of ['Bookmarks', 'my_things', '9lives', 'notes']) {
    const r = cli('create-plugin', name);
    assert.is(r.code, 2, `${name}: ${r.out}`);
  }
  assert.match(cli('create-plugin', 'notes').out, '"notes" is already a plugin');
  assert.ok(!existsSync(join(copy, 'plugins', 'Bookmarks')));
});

s('the scaffold typechecks, its lines fit, and its generated test passes', () => {
  const made = cli('create-plugin', NAME);
  assert.is(made.code, 0, made.out);
  assert.match(made.out, `add \`${NAME}: {}\` under \`plugins:\``);
  const files = [
    `contracts/${NAME}.yaml`, ...['index', 'entities', 'contract.gen', 'migrations/index',
      'migrations/0001_create_scaffold_probe'].map((f) => `plugins/${NAME}/${f}.ts`), `test/${NAME}/${NAME}.test.ts`,
  ];
  for (const file of files) {
    assert.ok(existsSync(join(copy, file)), `${file} written`);
    if (file.endsWith('.gen.ts')) continue;
    const long = readFileSync(join(copy, file), 'utf8').split('\n').filter((l) => l.length > 120);
    assert.equal(long, [], `${file}: lines over 120 characters`);
  }
  const catalog = readFileSync(join(copy, 'scripts/catalog.ts'), 'utf8');
  assert.match(catalog, /plugins: \{[^}]*'scaffold-probe': scaffoldProbe/);
  const again = cli('create-plugin', NAME);
  assert.is(again.code, 2, 'refuses to overwrite');
  assert.match(again.out, 'already');

  const tsc = run(process.execPath, [join(copy, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json']);
  assert.is(tsc.code, 0, tsc.out);
  const types = cli('types');
  assert.match(types.out, 'contract types are up to date');
  const test = run(process.execPath,
    ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', `${NAME}/.*\\.test\\.ts$`]);
  assert.is(test.code, 0, test.out);
  assert.match(test.out, /Passed:\s+3/);
});

s.run();
