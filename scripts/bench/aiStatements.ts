/**
 * The SQLite statements one `POST /v1/chat/completions` runs (STREAM=1: streamed), in order, through the bench's
 * kernel in this process: `node --import tsx scripts/bench/aiStatements.ts`.
 */
import { gatewayBench } from './aiGateway.ts';

const stream = process.env.STREAM === '1';
const { default: Database } = await import('libsql');
const texts = new WeakMap<object, string>();
const dbProto = Database.prototype as unknown as { prepare(sql: string): object };
const prepare = dbProto.prepare;
dbProto.prepare = function (this: unknown, sql: string) {
  const statement = prepare.call(this, sql);
  texts.set(statement, sql);
  return statement;
};
const bench = await gatewayBench();
for (let i = 0; i < 50; i++) await bench.viaGateway(stream);
const probe = new Database(':memory:');
const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
probe.close();
const seen: string[] = [];
const saved = new Map<string, (...a: unknown[]) => unknown>();
let depth = 0;
for (const m of ['run', 'get', 'all', 'iterate']) {
  saved.set(m, proto[m]);
  proto[m] = function (this: object, ...args: unknown[]) {
    if (!depth) seen.push(`${m}: ${(texts.get(this) ?? '?').replace(/\s+/g, ' ').slice(0, 160)}`);
    depth++;
    try { return saved.get(m)!.apply(this, args); } finally { depth--; }
  };
}
await bench.viaGateway(stream);
for (const [m, f] of saved) proto[m] = f;
console.log(`${seen.length} statements:\n${seen.join('\n')}`);
await bench.close();
process.exit(0);
