import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

/** Lines of a fixture marked `// expect-error: <what>`, 1-based. */
function expectedLines(file: string): number[] {
  return readFileSync(resolve(ROOT, 'test/types', file), 'utf8').split('\n')
    .flatMap((line, i) => (line.includes('// expect-error:') ? [i + 1] : []));
}

// One tsc run over both fixtures (test/types/tsconfig.json); the main tsconfig excludes them.
test('a wrong return field and a misspelled service each fail tsc, exactly where marked', () => {
  const tsc = resolve(ROOT, 'node_modules/typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'test/types/tsconfig.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const out = run.stdout + run.stderr;
  assert.is.not(run.status, 0, `tsc accepted the fixtures:\n${out}`);
  const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));

  const wrong = errors.filter((l) => l.startsWith('test/types/wrongReturn.fixture.ts('));
  assert.ok(wrong.some((l) => l.includes("error TS2322: Type 'string' is not assignable to type 'boolean'")), out);
  const misspelled = errors.filter((l) => l.startsWith('test/types/misspelledService.fixture.ts('));
  const lsit = "error TS2339: Property 'lsit' does not exist on type 'Records<";
  assert.ok(misspelled.some((l) => l.includes(lsit)), out);

  // Nothing else fails: each error sits on a marked line, so a fixture cannot fail for an unrelated reason.
  const at = (file: string, lines: string[]) =>
    lines.map((l) => Number(l.slice(`test/types/${file}(`.length).split(',')[0]));
  assert.equal(errors.length, wrong.length + misspelled.length, out);
  assert.equal([...new Set(at('wrongReturn.fixture.ts', wrong))], expectedLines('wrongReturn.fixture.ts'));
  const misspelledAt = [...new Set(at('misspelledService.fixture.ts', misspelled))];
  assert.equal(misspelledAt, expectedLines('misspelledService.fixture.ts'));
});

test.run();
