/**
 * The CLI: `serve`, `plan`, `config`, `migrate up|down|status`.
 *   npm start                      -> serve the embedded default
 *   npm run cli -- plan --config config/x.yaml
 * Config errors print one line per problem and exit 1, without a stack.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, BootError } from '../kernel/config/problems.ts';
import { AppError } from '../kernel/errors.ts';
import { loadConfig, planDeployment, createKernel } from './kernel.ts';
import { redact } from './redact.ts';
import { renderPlan } from '../kernel/plan.ts';
import { exitOnSignals } from '../kernel/lifecycle.ts';
import { syncContractTypes } from './contractTypes.ts';
import { catalogs } from './catalog.ts';
import { ROOT } from './paths.ts';
import type { IdentityInternals } from '../plugins/identity/api.ts';
import { migrateCreate } from './migrateCreate.ts';
import { createPlugin } from './createPlugin.ts';

const USAGE = `usage: cli <command> [--config FILE]
  serve                 start the HTTP server (default)
  worker                run job workers and schedules only (no HTTP); SIGTERM hands running jobs back
  plan [--verbose]      print the database, adapters, plugins, routes, events, subscribers, permissions; no I/O
  config                print the effective config, secrets redacted
  migrate up|down|status [--plugin NAME]
  migrate create --plugin NAME [--name LABEL]   write a migration from the entities' difference (no database)
  users create-admin --email E --password P   create (or promote) a super_admin
  types                 regenerate plugins/*/contract.gen.ts from the contracts
  create-plugin NAME    scaffold a user-owned CRUD plugin (contract, entity, migration, types, test)
`;

async function main(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' }, plugin: { type: 'string' }, email: { type: 'string' },
      password: { type: 'string' }, help: { type: 'boolean', short: 'h' }, verbose: { type: 'boolean', short: 'v' },
      name: { type: 'string' },
    },
  });
  if (values.help) { process.stdout.write(USAGE); return 0; }
  const [command = 'serve', sub] = positionals;
  if (command === 'types') return writeContractTypes();
  if (command === 'create-plugin') return createPlugin(sub);
  if (command === 'migrate' && sub === 'create') return migrateCreate(values.plugin, values.name);
  const config = loadConfig({ file: values.config });
  const configFile = values.config ?? process.env.KERNEL_CONFIG;

  switch (command) {
    case 'config':
      process.stdout.write(stringify(redact(config)));
      return 0;
    case 'plan': {
      const database = `${describeDatabase(config)} (migrate: ${config.database.migrate})`;
      const plan = planDeployment(config);
      process.stdout.write(renderPlan(plan, { name: config.name, database, verbose: values.verbose }));
      return 0;
    }
    case 'migrate':
      return migrate(config, sub, values.plugin, configFile);
    case 'users':
      return users(config, sub, values.email, values.password);
    case 'serve':
      return serve(config, configFile);
    case 'worker':
      return worker(config, configFile);
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

async function serve(config: ReturnType<typeof loadConfig>, configFile: string | undefined) {
  const kernel = await createKernel(config, { configFile });
  const address = await kernel.listen();
  const base = config.server.publicUrl ?? `http://localhost:${address.port}`;
  kernel.logger.info({ port: address.port }, 'listening');
  process.stdout.write(
    `\n  ${config.name} is listening on ${base}\n  API docs: ${base}/docs\n  OpenAPI:  ${base}/openapi.json\n\n`,
  );
  exitOnSignals(kernel);
  return undefined;
}

/** Jobs without HTTP: the worker and the schedules; SIGTERM lets running jobs finish by the deadline. */
async function worker(config: ReturnType<typeof loadConfig>, configFile: string | undefined) {
  const working = { ...config, jobs: { ...config.jobs!, worker: true } };
  const kernel = await createKernel(working, { configFile });
  const types = kernel.jobs?.types().map((t) => t.type) ?? [];
  if (!kernel.jobWorker) {
    await kernel.stop();
    process.stderr.write('worker: no job types to run (no plugin declares jobs, or no adapters.jobQueue)\n');
    return 1;
  }
  kernel.logger.info({ workerId: kernel.jobWorker.workerId, types }, 'job worker started');
  process.stdout.write(`job worker ${kernel.jobWorker.workerId}: ${types.join(', ')}\n`);
  exitOnSignals(kernel);
  return undefined;
}

/** What a command reads, fit to print: `sqlite file:./data/kernel.db`, `postgresql postgresql://app:[redacted]@db/x`. */
function describeDatabase(config: ReturnType<typeof loadConfig>): string {
  return `${config.database.driver} ${redact(config.database.url)}`;
}

async function migrate(
  config: ReturnType<typeof loadConfig>,
  sub: string | undefined,
  plugin: string | undefined,
  configFile: string | undefined,
) {
  if (!['up', 'down', 'status'].includes(sub ?? '')) {
    process.stderr.write(`migrate needs up, down or status\n${USAGE}`);
    return 2;
  }
  if (plugin !== undefined) {
    const known = ['kernel', 'kernel-jobs', ...planDeployment(config).plugins.map((p) => p.name)];
    if (!known.includes(plugin)) {
      process.stderr.write(`unknown plugin "${plugin}" in this deployment (known: ${known.join(', ')})\n`);
      return 1;
    }
  }
  process.stdout.write(`database: ${describeDatabase(config)}\n`);
  if (config.database.driver === 'mongodb') {
    if (sub === 'up') {
      const indexing = { ...config, database: { ...config.database, migrate: 'auto' as const } };
      const kernel = await createKernel(indexing, { maintenance: true, configFile });
      await kernel.stop();
      process.stdout.write('mongodb: indexes ensured from the entities (no SQL migrations)\n');
    } else {
      process.stdout.write('mongodb: no SQL migrations; `migrate up` (or migrate: auto) ensures the indexes\n');
    }
    return 0;
  }
  const maintenance = { ...config, database: { ...config.database, migrate: 'off' as const } };
  const kernel = await createKernel(maintenance, { maintenance: true, configFile });
  try {
    const migrator = kernel.migrator();
    if (sub === 'up') {
      const ran = await migrator.up();
      process.stdout.write(
        ran.length ? ran.map((m) => `applied ${m.plugin}/${m.name}`).join('\n') + '\n' : 'nothing to apply\n',
      );
    } else if (sub === 'down') {
      const reverted = await migrator.down(plugin);
      process.stdout.write(reverted ? `reverted ${reverted.plugin}/${reverted.name}\n` : 'nothing to revert\n');
    } else {
      for (const s of (await migrator.status()).filter((m) => !plugin || m.plugin === plugin)) {
        const state = s.appliedAt ? `applied  ${s.plugin}/${s.name}  ${s.appliedAt}` : `pending  ${s.plugin}/${s.name}`;
        process.stdout.write(`${state}\n`);
      }
    }
  } finally {
    await kernel.stop();
  }
  return 0;
}

async function users(
  config: ReturnType<typeof loadConfig>,
  sub: string | undefined,
  email: string | undefined,
  password: string | undefined,
) {
  if (sub !== 'create-admin' || !email || !password) {
    process.stderr.write(`users create-admin needs --email and --password\n${USAGE}`);
    return 2;
  }
  if (config.plugins.identity?.enabled === false || !config.plugins.identity) {
    process.stderr.write('the identity plugin is not enabled in this deployment\n');
    return 2;
  }
  const kernel = await createKernel(config);
  try {
    const { createAdmin } = await import('../plugins/identity/api.ts');
    // The identity plugin's container, as its services typed it (plugins/identity/services.ts).
    const cradle = kernel.runtimes.get('identity')!.container.cradle as unknown as IdentityInternals;
    const result = await createAdmin(cradle, email, password);
    process.stdout.write(`${result.created ? 'created' : 'promoted'} super_admin ${email} (${result.id})\n`);
  } finally {
    await kernel.stop();
  }
  return 0;
}

function writeContractTypes(): number {
  const written = syncContractTypes(ROOT, Object.values(catalogs.plugins), 'write');
  process.stdout.write(written.length ? `regenerated: ${written.join(', ')}\n` : 'contract types are up to date\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== undefined) process.exit(code); },
  (err) => {
    if (err instanceof ConfigError || err instanceof BootError) {
      process.stderr.write(
        `${err instanceof ConfigError ? 'config error' : 'boot error'}:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`,
      );
    } else if (err instanceof AppError) {
      const details = Array.isArray(err.errorDetails)
        ? err.errorDetails.map((d) => `\n  ${d.field ?? ''}: ${d.message}`).join('')
        : '';
      process.stderr.write(`error: ${err.message}${details}\n`);
    } else {
      process.stderr.write(`fatal: ${err?.message ?? err}\n`);
    }
    process.exit(1);
  },
);
