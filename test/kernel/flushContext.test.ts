import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

const s = suite("kernel: Node's promise hooks are off between MikroORM flushes (in a process of its own)");

s('the suite in test/fixtures/flushContext/suite.ts passes: hooks off between flushes and transactions', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/flushContext/suite.ts')], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const out = `${run.stdout}\n${run.stderr}`;
  assert.is(run.status, 0, out.slice(-3000));
  assert.match(out, /Passed:\s+4/, out.slice(-3000));
});

s.run();
