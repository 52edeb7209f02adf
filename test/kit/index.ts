/**
 * The test kit for plugin tests: `import { startTestKernel } from '../kit/index.ts'`.
 *
 *   const k = await startTestKernel({ plugins: [myPlugin], contracts: { my: doc }, config: { ... } });
 *   const alice = await k.asUser();          // registered and signed in
 *   await alice.post('/v1/things', { ... });
 *   await k.settle();                        // outbox relayed, bus drained, subscribers done
 *   await k.stop();
 *
 * The deployment is the embedded default (config/default.yaml, every catalog plugin it enables)
 * with `config` merged in, plus the given plugins; SQLite in a throwaway file, a random port,
 * responses validated against the contract. Error lines the kernel logs (an unexpected 500, a
 * dead-lettered event) are printed to stderr and kept in `errors`.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { createLogger, Kernel } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig, type Catalogs } from '../../kernel/config/validate.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import type { PluginDefinition } from '../../kernel/index.ts';
import type { AdapterDefinition } from '../../kernel/ports/adapter.ts';
import type { Clock } from '../../kernel/ports/clock.ts';
import type { EventBus } from '../../kernel/ports/eventBus.ts';
import { catalogs } from '../../scripts/catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, VERSION } from '../../scripts/paths.ts';
import { request, tempSqliteUrl, type TestResponse } from '../helpers/kernel.ts';
import { ADMIN, PASSWORD } from '../identity/helpers.ts';

process.env.NODE_ENV ??= 'test'; // strict events and payload validation, as under `npm test`

export type { TestResponse } from '../helpers/kernel.ts';
export { assertError } from '../helpers/kernel.ts';

export interface RequestOptions { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> }

/** Sends requests to the kernel, as one caller (anonymous, or signed in). */
export interface Client {
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
  get(path: string, headers?: Record<string, string>): Promise<TestResponse>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  put(path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  patch(path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  delete(path: string, headers?: Record<string, string>): Promise<TestResponse>;
}
export interface SignedInClient extends Client { id: string; email: string; accessToken: string; authorization: string }

export interface StartOptions {
  /** Plugins beside the default ones (a plugin of the catalog with the same name is replaced); all enabled. */
  plugins?: PluginDefinition[];
  /** Contract documents by file name without `.yaml`, for plugins whose contract is not in contracts/ yet. */
  contracts?: Record<string, unknown>;
  /** Merged into the default deployment (objects merge key by key; lists and values replace). */
  config?: Record<string, unknown>;
  /** Extra adapters by port and name; select one with `config.adapters.<port>.use`. */
  adapters?: Record<string, Record<string, AdapterDefinition>>;
  clock?: Clock;
  /** Print the kernel's error lines to stderr (default true); they are collected in `errors` either way. */
  printErrors?: boolean;
}

export interface TestKit extends Client {
  kernel: Kernel;
  url: string;
  basePath: string;
  /** The kernel's error log lines (JSON), for "this failed loudly" checks. */
  errors: string[];
  /** A fresh user, registered and signed in (needs identity, which the default enables). */
  asUser(tag?: string): Promise<SignedInClient>;
  /** The bootstrap super admin, signed in. */
  asAdmin(): Promise<SignedInClient>;
  /** Waits until every staged event is published and every subscriber has finished, cascades included. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

function client(url: string, headers: Record<string, string> = {}): Client {
  const send = (method: string, path: string, options: RequestOptions = {}) =>
    request(url, method, path, { ...options, headers: { ...headers, ...options.headers } });
  return {
    request: send,
    get: (path, h) => send('GET', path, { headers: h }),
    post: (path, body, h) => send('POST', path, { body, headers: h }),
    put: (path, body, h) => send('PUT', path, { body, headers: h }),
    patch: (path, body, h) => send('PATCH', path, { body, headers: h }),
    delete: (path, h) => send('DELETE', path, { headers: h }),
  };
}

/** The `success` envelope wraps bodies in `data`; the plain one does not. */
const unwrap = (body: any) => (body?.success === true ? body.data : body);

let seq = 0;
/** Registers and signs in a fresh user; returns its id, email and bearer token. */
export async function signUp(
  url: string, basePath = '/v1', tag = 'user',
): Promise<{ id: string; email: string; accessToken: string }> {
  const email = `${tag}-${process.pid}-${Date.now().toString(36)}-${seq++}@example.com`;
  const body = { name: tag, email, password: PASSWORD };
  const reg = await request(url, 'POST', `${basePath}/auth/register`, { body });
  assert.is(reg.status, 201, reg.text);
  const login = await signIn(url, basePath, email, PASSWORD);
  return { id: unwrap(reg.body).id, email, accessToken: login };
}

async function signIn(url: string, basePath: string, email: string, password: string): Promise<string> {
  const login = await request(url, 'POST', `${basePath}/auth/login`, { body: { email, password } });
  assert.is(login.status, 200, login.text);
  return unwrap(login.body).accessToken as string;
}

function signedInClient(url: string, who: { id: string; email: string; accessToken: string }): SignedInClient {
  const authorization = `Bearer ${who.accessToken}`;
  return { ...client(url, { authorization }), ...who, authorization };
}

/** Contracts: the repository's, plus the given documents, in a throwaway folder. */
function contractsDir(extra: Record<string, unknown> | undefined): { dir: string; cleanup(): void } {
  if (!extra || !Object.keys(extra).length) return { dir: CONTRACTS_DIR, cleanup() {} };
  const dir = mkdtempSync(join(tmpdir(), 'kit-contracts-'));
  for (const f of readdirSync(CONTRACTS_DIR))
    if (f.endsWith('.yaml')) copyFileSync(join(CONTRACTS_DIR, f), join(dir, f));
  for (const [name, doc] of Object.entries(extra)) writeFileSync(join(dir, `${name}.yaml`), stringify(doc));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One line a person can read: level, message, operation and the error with its stack. */
function printable(line: string): string {
  try {
    type Line = { msg?: string; operationId?: string; err?: { type?: string; message?: string; stack?: string } };
    const o = JSON.parse(line) as Line;
    const where = o.operationId ? ` (${o.operationId})` : '';
    const err = o.err ? `\n  ${o.err.stack ?? `${o.err.type}: ${o.err.message}`}` : '';
    return `[kernel error] ${o.msg ?? ''}${where}${err}\n`;
  } catch {
    return `[kernel error] ${line}`;
  }
}

/** Boots the default deployment with `options` merged in; see the module comment. */
export async function startTestKernel(options: StartOptions = {}): Promise<TestKit> {
  const plugins = options.plugins ?? [];
  const all: Catalogs = {
    adapters: deepMerge(catalogs.adapters, options.adapters ?? {}),
    plugins: { ...catalogs.plugins, ...Object.fromEntries(plugins.map((p) => [p.name, p])) },
  };
  const dbUrl = tempSqliteUrl();
  const base = {
    server: { port: 0, host: '127.0.0.1', validateResponses: true },
    database: { url: dbUrl },
    log: { level: 'error' },
    rateLimit: { enabled: false },
    plugins: { identity: { bootstrapAdmin: ADMIN }, ...Object.fromEntries(plugins.map((p) => [p.name, {}])) },
  };
  const overrides = deepMerge(base, options.config ?? {});
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {}, overrides });
  const config = validateConfig(raw, all, problems);
  const errors: string[] = [];
  const print = options.printErrors ?? true;
  const logger = createLogger(config, {
    write(line: string) {
      errors.push(line);
      if (print) process.stderr.write(printable(line));
    },
  });
  const contracts = contractsDir(options.contracts);
  const kernel = await Kernel
    .create({ config, catalogs: all, contractsDir: contracts.dir, version: VERSION, logger, clock: options.clock })
    .catch((e) => {
      contracts.cleanup();
      console.error('startTestKernel failed:', e); // uvu hides errors thrown in before() hooks
      throw e;
    });
  const { port } = await kernel.listen();
  const url = `http://127.0.0.1:${port}`;
  const basePath = config.server.basePath;
  let admin: SignedInClient | undefined;
  return {
    ...client(url),
    kernel,
    url,
    basePath,
    errors,
    async asUser(tag) {
      return signedInClient(url, await signUp(url, basePath, tag));
    },
    async asAdmin() {
      if (!admin) {
        const accessToken = await signIn(url, basePath, ADMIN.email, ADMIN.password);
        const headers = { authorization: `Bearer ${accessToken}` };
        const me = await request(url, 'GET', `${basePath}/users/me`, { headers });
        admin = signedInClient(url, { id: unwrap(me.body)?.id ?? '', email: ADMIN.email, accessToken });
      }
      return admin;
    },
    settle: () => settle(kernel),
    async stop() {
      await kernel.stop();
      contracts.cleanup();
      if (config.database.driver === 'sqlite') rmSync(config.database.url.replace(/^file:/, ''), { force: true });
    },
  };
}

const SETTLE_ROUNDS = 20;
/**
 * Relays the outbox and drains the bus until both are quiet: a subscriber that publishes in
 * turn is waited for too. Throws when events stay pending (a failing publish backing off).
 */
export async function settle(kernel: Kernel): Promise<void> {
  type Drainable = EventBus & { drain?: () => Promise<void> };
  const bus = kernel.root.hasRegistration('eventBus') ? (kernel.root.cradle.eventBus as Drainable) : undefined;
  for (let round = 0; round < SETTLE_ROUNDS; round++) {
    kernel.outbox?.kick();
    await kernel.outbox?.idle();
    await bus?.drain?.();
    const orm = kernel.outbox && kernel.orm;
    const pending = orm ? await orm.em.fork().count('KernelOutbox', { publishedAt: null }) : 0;
    if (!pending) return;
  }
  throw new Error(`settle: events still unpublished after ${SETTLE_ROUNDS} rounds (is the bus failing?)`);
}
