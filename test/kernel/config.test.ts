import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../scripts/kernel.ts';
import { ConfigError } from '../../kernel/config/problems.ts';
import { interpolate } from '../../kernel/config/interpolate.ts';
import { redact } from '../../scripts/redact.ts';

const s = suite('config: overlays, interpolation, validation');

function file(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'deployment.yaml');
  writeFileSync(path, yaml);
  return path;
}

function problems(fn: () => unknown): string[] {
  try { fn(); } catch (e) { if (e instanceof ConfigError) return e.problems; throw e; }
  assert.unreachable('expected a ConfigError');
  return [];
}

s('defaults, then the deployment file, then the environment', () => {
  const c = loadConfig({
    file: file('server: { basePath: /api, envelope: success }\n'),
    env: { PORT: '4321', KERNEL_LOG__LEVEL: 'warn' },
  });
  assert.is(c.server.basePath, '/api');
  assert.is(c.server.envelope, 'success');
  assert.is(c.server.port, 4321, 'PORT wins over the files');
  assert.is(c.log.level, 'warn', 'KERNEL_A__B sets a.b');
  assert.is(c.database.driver, 'sqlite', 'default.yaml still applies');
  assert.is(c.server.shutdownTimeoutMs, 10000);
});

s('${VAR} and ${VAR:-default} interpolation', () => {
  const c = loadConfig({
    file: file('database: { url: "file:${DB_DIR:-/tmp}/x.db" }\nname: "${NAME}"\n'),
    env: { NAME: 'svc' },
  });
  assert.is(c.database.url, 'file:/tmp/x.db');
  assert.is(c.name, 'svc');
  const out: Array<{ path: string; variable: string }> = [];
  assert.is(interpolate('a$${literal}', {}, 'x', out), 'a${literal}', 'escaped');
  assert.equal(out, []);
});

s('an unset variable names the variable and the path', () => {
  const out = problems(() =>
    loadConfig({ file: file('adapters: { cache: { use: redis, url: "${REDIS_HOST_URL}" } }\n'), env: {} }),
  );
  assert.ok(
    out.some((p) => p.startsWith('adapters.cache.url: environment variable REDIS_HOST_URL is not set')),
    out.join('\n'),
  );
});

s('unknown adapter lists the available ones; wrong type and missing value name the path', () => {
  const out = problems(() =>
    loadConfig({
      file: file(
        'adapters:\n  cache: { use: memcache }\n  eventBus: { use: kafka }\nserver: { port: "abc", envelope: fancy }\n',
      ),
      env: {},
    }),
  );
  assert.ok(out.includes('adapters.cache.use: unknown adapter "memcache" (allowed: memory, redis)'), out.join('\n'));
  assert.ok(out.some((p) => p.startsWith('adapters.eventBus.brokers: required')), out.join('\n'));
  assert.ok(out.includes('server.port: must be integer (got "abc")'), out.join('\n'));
  assert.ok(out.some((p) => p.startsWith('server.envelope: must be one of plain, success')), out.join('\n'));
});

s('unknown keys, ports and plugins are errors, with the allowed names', () => {
  const out = problems(() =>
    loadConfig({
      file: file('server: { prot: 1 }\nadapters: { mailbox: { use: x } }\nplugins: { nope: {} }\n'),
      env: {},
    }),
  );
  assert.ok(out.some((p) => p.startsWith('server.prot: unknown key (allowed: host, port,')), out.join('\n'));
  assert.ok(out.some((p) => p.startsWith('adapters.mailbox: unknown port (allowed: cache, eventBus')), out.join('\n'));
  assert.ok(out.some((p) => p.startsWith('plugins.nope: unknown plugin (allowed: system, identity')), out.join('\n'));
});

s('a broken YAML file is one clear problem', () => {
  const out = problems(() => loadConfig({ file: file('server: [unclosed\n'), env: {} }));
  assert.is(out.length, 1);
  assert.match(out[0], /deployment\.yaml/);
});

s('redaction hides secret keys and URL passwords', () => {
  const r = redact({ database: { url: 'postgresql://app:hunter2@db:5432/x' }, mailer: { password: 'p', apiKey: 'k', host: 'h' } }) as any;
  assert.is(r.database.url, 'postgresql://app:[redacted]@db:5432/x');
  assert.is(r.mailer.password, '[redacted]');
  assert.is(r.mailer.apiKey, '[redacted]');
  assert.is(r.mailer.host, 'h');
});

s.run();
