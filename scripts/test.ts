/**
 * Runs every uvu suite (test/**\/*.test.ts) in one process and ends with the line
 * `N passed, N failed, N skipped` counted over all suites. Exits non-zero on any failure,
 * on a run that executed no test, and on a run that does not exit (leaked handles).
 *   npm test                      everything
 *   npm test -- ports             only files whose path matches /ports/
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from './paths.ts';

const filter = process.argv[2] ?? '';
const pattern = filter ? `${filter}.*\\.test\\.ts$` : '\\.test\\.ts$';
const TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 15 * 60_000);

const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'node_modules/uvu/bin.js'), 'test', pattern], {
  cwd: ROOT,
  env: { ...process.env, NODE_ENV: 'test' },
  stdio: ['ignore', 'pipe', 'pipe'],
});

let output = '';
child.stdout.on('data', (chunk: Buffer) => { process.stdout.write(chunk); output += chunk.toString(); });
child.stderr.on('data', (chunk: Buffer) => { process.stderr.write(chunk); output += chunk.toString(); });

let lingering: NodeJS.Timeout | undefined;
const overall = setTimeout(() => {
  console.error(`\ntests did not finish within ${TIMEOUT_MS} ms`);
  child.kill('SIGKILL');
}, TIMEOUT_MS);
child.stdout.on('data', () => {
  // Once uvu has printed its summary, the process should exit promptly; if it doesn't, something leaked.
  if (!lingering && /Duration:/.test(output)) {
    lingering = setTimeout(() => {
      console.error('\ntests finished but the process did not exit (open handles): killing it');
      child.kill('SIGKILL');
    }, 30_000);
  }
});

child.on('exit', (code, signal) => {
  clearTimeout(overall);
  clearTimeout(lingering);
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => Number(plain.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  let failed = Math.max(0, total - passed - skipped);
  if ((code !== 0 || signal) && failed === 0) failed = 1; // a crash or hang counts as a failure
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (total === 0) console.error('no test was executed');
  process.exit(failed > 0 || total === 0 || code !== 0 ? 1 : 0);
});
