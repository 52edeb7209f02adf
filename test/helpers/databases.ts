import pg from 'pg';
import { MongoClient } from 'mongodb';
import { tempSqliteUrl } from './kernel.ts';
import { serviceUrl } from './services.ts';

export interface TestDatabase {
  driver: 'sqlite' | 'postgresql' | 'mongodb';
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database per call on every driver whose server is available. */
export async function testDatabases(suite: string): Promise<Array<() => Promise<TestDatabase>>> {
  const makers: Array<() => Promise<TestDatabase>> = [
    async () => ({ driver: 'sqlite', url: tempSqliteUrl(), drop: async () => {} }),
  ];
  const pgUrl = serviceUrl('DATABASE_URL', `${suite} on postgresql`);
  if (pgUrl) makers.push(() => freshPostgres(pgUrl));
  const mongoUrl = serviceUrl('MONGO_URL', `${suite} on mongodb`);
  if (mongoUrl) makers.push(() => freshMongo(mongoUrl));
  return makers;
}

export async function freshPostgres(baseUrl: string): Promise<TestDatabase> {
  const name = `kt_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    driver: 'postgresql',
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function freshMongo(baseUrl: string): Promise<TestDatabase> {
  const name = `kt_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    driver: 'mongodb',
    url: url.toString(),
    async drop() {
      const client = new MongoClient(url.toString(), { serverSelectionTimeoutMS: 3000 });
      try {
        await client.connect();
        await client.db(name).dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}
