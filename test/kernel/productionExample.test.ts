/** config/production.example.yaml validates with exactly the environment README's Deployments section documents. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../scripts/kernel.ts';
import { ConfigError } from '../../kernel/config/problems.ts';

const FILE = 'config/production.example.yaml';
const s = suite('config/production.example.yaml');

/** `NAME=value` pairs of README's command that starts the example (the lines before `npm start -- --config FILE`). */
function documentedEnv(): Record<string, string> {
  const readme = readFileSync('README.md', 'utf8');
  const at = readme.indexOf(`npm start -- --config ${FILE}`);
  assert.ok(at > 0, 'README shows how to start the example');
  const block = readme.slice(readme.lastIndexOf('```', at), at);
  return Object.fromEntries([...block.matchAll(/\b([A-Z][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1], m[2]]));
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ file: FILE, env });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

s('validates with only the documented variables set (PORT unset: port 8080)', () => {
  const env = documentedEnv();
  assert.equal(Object.keys(env).sort(), ['DATABASE_URL', 'KAFKA_BROKERS', 'PUBLIC_BASE_URL', 'REDIS_URL']);
  assert.equal(problems(env), []);
  const c = loadConfig({ file: FILE, env });
  assert.is(c.server.port, 8080);
  assert.is(c.database.driver, 'postgresql');
  assert.is(c.database.url, env.DATABASE_URL);
});

s('PORT, when set, is the port (a number)', () => {
  assert.is(loadConfig({ file: FILE, env: { ...documentedEnv(), PORT: '9090' } }).server.port, 9090);
});

s('every variable the file needs is documented: dropping any one of them is a problem naming it', () => {
  const env = documentedEnv();
  for (const name of Object.keys(env)) {
    const { [name]: _dropped, ...rest } = env;
    const out = problems(rest);
    assert.ok(out.some((p) => p.includes(`environment variable ${name} is not set`)), `${name}: ${out.join('\n')}`);
  }
});

s.run();
