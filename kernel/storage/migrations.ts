import type { Knex } from '@mikro-orm/knex';

/**
 * A plugin's SQL migration. `up`/`down` get a knex instance inside a transaction; use its
 * schema builder so one migration serves SQLite and PostgreSQL. History is kept per plugin
 * in `kernel_migrations`. MongoDB needs none: indexes are ensured from the entities.
 */
export interface Migration {
  /** Sortable and unique within the plugin, e.g. `0001_create_notes`. */
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export interface MigrationStatus { plugin: string; name: string; appliedAt: string | null }

const TABLE = 'kernel_migrations';
/** Arbitrary constant key for pg_advisory_xact_lock. */
const MIGRATION_LOCK = 734_211_001;

export class Migrator {
  constructor(private knex: Knex, private plugins: Array<{ name: string; migrations: Migration[] }>) {}

  private async ensureTable(db: Knex = this.knex) {
    if (await db.schema.hasTable(TABLE)) return;
    try {
      await db.schema.createTable(TABLE, (t) => {
        t.string('plugin', 100).notNullable();
        t.string('name', 200).notNullable();
        t.string('applied_at', 40).notNullable();
        t.primary(['plugin', 'name']);
      });
    } catch (e) {
      // Another instance created it between our check and our create.
      if (!(await db.schema.hasTable(TABLE))) throw e;
    }
  }

  async status(db: Knex = this.knex): Promise<MigrationStatus[]> {
    await this.ensureTable(db);
    const rows: Array<{ plugin: string; name: string; applied_at: string }> = await db(TABLE).select('*');
    const applied = new Map(rows.map((r) => [`${r.plugin}/${r.name}`, r.applied_at]));
    return this.plugins.flatMap((p) =>
      p.migrations.map((m) => ({ plugin: p.name, name: m.name, appliedAt: applied.get(`${p.name}/${m.name}`) ?? null })),
    );
  }

  async pending(): Promise<MigrationStatus[]> {
    return (await this.status()).filter((s) => s.appliedAt === null);
  }

  /**
   * Applies every pending migration, plugin by plugin in start order, in one transaction.
   * On PostgreSQL an advisory lock makes instances booting together take turns.
   */
  async up(): Promise<MigrationStatus[]> {
    await this.ensureTable();
    return this.knex.transaction(async (trx) => {
      if (this.isPostgres()) await trx.raw('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
      const ran: MigrationStatus[] = [];
      for (const s of (await this.status(trx)).filter((m) => m.appliedAt === null)) {
        const appliedAt = new Date().toISOString();
        await this.find(s).up(trx);
        await trx(TABLE).insert({ plugin: s.plugin, name: s.name, applied_at: appliedAt });
        ran.push({ ...s, appliedAt });
      }
      return ran;
    });
  }

  private isPostgres(): boolean {
    return /^(pg|postgres)/.test(String((this.knex.client as { dialect?: string }).dialect ?? ''));
  }

  /** Reverts the most recently applied migration (of one plugin, when named). */
  async down(plugin?: string): Promise<MigrationStatus | null> {
    const applied = (await this.status()).filter((s) => s.appliedAt !== null && (!plugin || s.plugin === plugin));
    const last = applied.sort((a, b) => (a.appliedAt! < b.appliedAt! ? -1 : a.appliedAt! > b.appliedAt! ? 1 : 0)).at(-1);
    if (!last) return null;
    await this.knex.transaction(async (trx) => {
      await this.find(last).down(trx);
      await trx(TABLE).where({ plugin: last.plugin, name: last.name }).delete();
    });
    return last;
  }

  private find(s: MigrationStatus): Migration {
    return this.plugins.find((p) => p.name === s.plugin)!.migrations.find((m) => m.name === s.name)!;
  }
}
