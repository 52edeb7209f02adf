import { TurnBatch, type Pending as PendingOf } from './turnBatch.ts';

/**
 * The insert path's units on PostgreSQL, grouped per turn of the event loop: the units that
 * reach it in one turn (concurrent requests' rows and outbox events, subscribers' rows and
 * receipts) are sent as ONE statement of data-modifying CTEs, one round trip for all of them:
 * the client's cost of a small insert is mostly its round trip (serializing, parsing the reply,
 * the pool). The statement is atomic. When the server refuses it (a unique violation in one
 * unit), each unit is sent again alone, so only the unit at fault fails, with its own error; a
 * failure that is not the server's answer (the connection dropped: the outcome is unknown) is
 * every unit's error. Each unit's promise settles after its rows are committed (or not).
 * Units are ordered by their text before grouping, and at most MAX_UNITS go in one statement,
 * so the statements' texts repeat and stay prepared.
 */
export interface PgUnit {
  statements: Array<{ sql: string; params: unknown[] }>;
}

export interface PgGroupDeps {
  /** Sends statements as one (kernel/storage/pgStatements.ts: all but the last as data-modifying CTEs). */
  send(statements: PgUnit['statements']): Promise<void>;
}

const MAX_UNITS = 8;

type Pending = PendingOf<PgUnit>;
const texts = new WeakMap<PgUnit, string>();
function textOf(unit: PgUnit): string {
  let text = texts.get(unit);
  if (text === undefined) texts.set(unit, (text = unit.statements.map((s) => s.sql).join('\u0000')));
  return text;
}

export class PgInsertGroups {
  private batch = new TurnBatch<PgUnit>(MAX_UNITS, (group) => void this.send(group), (a, b) => {
    const [x, y] = [textOf(a.item), textOf(b.item)];
    return x < y ? -1 : x > y ? 1 : 0;
  });
  readonly stats = { units: 0, statements: 0, retried: 0 };

  constructor(private deps: PgGroupDeps) {}

  write(unit: PgUnit): Promise<void> {
    return this.batch.add(unit);
  }

  private async send(group: Pending[]): Promise<void> {
    this.stats.units += group.length;
    this.stats.statements++;
    try {
      await this.deps.send(group.length === 1 ? group[0].item.statements : group.flatMap((p) => p.item.statements));
      for (const p of group) p.resolve();
      return;
    } catch (err) {
      if (group.length === 1 || !answeredByServer(err)) {
        for (const p of group) p.reject(err);
        return;
      }
    }
    // The server refused the whole statement: nothing of it was written. Each unit alone, for its own outcome.
    this.stats.retried += group.length;
    await Promise.all(group.map((p) => this.deps.send(p.item.statements).then(p.resolve, p.reject)));
  }
}

/**
 * A PostgreSQL error reply (pg's DatabaseError: a severity and a SQLSTATE): the statement ran and was rolled
 * back, it was not lost on the way (a socket error such as EPIPE has a code too, but no severity).
 */
function answeredByServer(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown } | undefined;
  return typeof e?.severity === 'string' && typeof e.code === 'string';
}
