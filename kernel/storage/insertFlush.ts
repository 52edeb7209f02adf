import {
  EventType, helper, ReferenceKind, TransactionEventBroadcaster,
  type AnyEntity, type EntityManager, type EntityMetadata, type EventSubscriber,
} from '@mikro-orm/core';
import { OwnerGuard } from './ownership.ts';
import { DIRECT_TRANSACTION } from './pgStatements.ts';
import { CapturedInserts, insertRunnerOf } from './insertBatch.ts';
import { buildInsert, type InsertDriver } from './insertSql.ts';

/**
 * `em.flush()` for the commonest unit of work on a hot path: only new rows (a created
 * record, its outbox event, a subscriber's receipt), nothing loaded, changed or removed.
 * MikroORM's flush computes change sets for every entity it knows, groups and orders them,
 * runs each through its persister, inside an AsyncLocalStorage scope: on this machine about
 * 60% of a validated POST /v1/notes's ORM time. Here the rows go through the same pieces
 * MikroORM's persister ends in: `onCreate` initializers, the OwnerGuard's check, the
 * entity comparator's `prepareEntity` (database values), `driver.nativeInsertMany` (one
 * bound statement per row: a prepared one on libsql), in one transaction with MikroORM's
 * transaction events; the rows are then managed by `em`, as after a flush.
 *
 * Anything else falls back to `em.flush()`: a MongoDB or transaction-bound `em`, a managed or
 * removed entity, relations, embeddables, versions, lifecycle hooks, entity-event listeners
 * other than the kernel's OwnerGuard, or a flush-event listener that does not say which
 * entities it follows (`getSubscribedEntities`) or follows one of these rows'.
 */
export async function flushInserts(em: EntityManager, given: PlainRow[] = []): Promise<void> {
  const staged = takeStagedRows(em);
  const plain = staged.length ? [...staged, ...given] : given;
  for (const { entity, data } of plain) setCreateValues(em, entity, data);
  const rows = insertOnly(em);
  const direct = rows && plainRows(em, plain);
  if (!rows || !direct || !(rows.length || direct.length)) {
    for (const { entity, data } of plain) em.create(entity, data);
    return em.flush();
  }
  const uow = em.getUnitOfWork() as unknown as Uow;
  const driver = em.getDriver();
  const comparator = em.getComparator();
  const payloads: Array<{ meta: EntityMetadata; entity: AnyEntity; data: Record<string, unknown> }> = [];
  for (const { entity, meta, guards } of rows) {
    for (const prop of meta.hydrateProps) {
      if (prop.onCreate && entity[prop.name] == null) entity[prop.name] = prop.onCreate(entity, em);
    }
    for (const guard of guards) guard.beforeCreate({ entity, em, meta } as never);
    payloads.push({ meta, entity, data: comparator.prepareEntity(entity) as Record<string, unknown> });
  }
  const eventBroadcaster = new TransactionEventBroadcaster(em, em.getUnitOfWork());
  const connection = em.getConnection('write');
  const runner = insertRunnerOf(connection);
  uow.working = true;
  try {
    if (runner) {
      // MikroORM builds each insert (its conversions, its SQL); the driver's runner writes them as one unit.
      const captured = new CapturedInserts();
      await insertRows(driver, direct, payloads, captured);
      await runner(captured.statements, { eventBroadcaster, convert: (err) => driver.convertException(err as Error) });
    } else {
      // On PostgreSQL the transaction is the kernel's direct one (kernel/storage/pgStatements.ts).
      const options = { eventBroadcaster, [DIRECT_TRANSACTION]: true };
      await connection.transactional((ctx) => insertRows(driver, direct, payloads, ctx), options);
    }
  } finally {
    uow.working = false;
  }
  for (const { entity, data } of payloads) em.getUnitOfWork().register(entity, data, { refresh: true });
  uow.postCommitCleanup();
}

/** Plain rows as `em.insert` writes them (custom types converted by the driver), then the unit of work's. */
async function insertRows(driver: ReturnType<EntityManager['getDriver']>, direct: Array<{ meta: EntityMetadata;
  data: object }>, payloads: Array<{ meta: EntityMetadata; data: object }>, ctx: unknown): Promise<void> {
  for (const { meta, data } of direct) await insertOne(driver, meta, data, ctx, true);
  for (const { meta, data } of payloads) await insertOne(driver, meta, data, ctx, false);
}

/** Recorded for the runner with the kernel's cached text when it can build it, else MikroORM's nativeInsertMany. */
async function insertOne(driver: ReturnType<EntityManager['getDriver']>, meta: EntityMetadata, data: object,
  ctx: unknown, convertCustomTypes: boolean): Promise<void> {
  const built = ctx instanceof CapturedInserts
    ? buildInsert(driver as unknown as InsertDriver, meta, data as Record<string, unknown>, convertCustomTypes)
    : undefined;
  if (built) {
    await (ctx as CapturedInserts).record(built.sql, built.params);
    return;
  }
  await driver.nativeInsertMany(meta.className, [data], { ctx, convertCustomTypes });
}

/**
 * Rows staged as data on an EntityManager whose flushes take them (a request's: `countFlushes` in
 * kernel/events/unitOfWork.ts makes its `flush` and `transactional` `em.create` them first): the next
 * `flushInserts` writes them with its own rows, as data; anything else that writes `em` makes them entities first.
 */
const stagedRows = new WeakMap<EntityManager, PlainRow[]>();
/** Set on such an em, so a proxy of it (the request scope's lazy `em`) finds its rows too. */
const SELF = Symbol('stagedRowsEm');
const keyOf = (em: EntityManager) => (em as unknown as Record<symbol, EntityManager | undefined>)[SELF] ?? em;

/** `em`'s `flush` and `transactional` call `createStagedRows` first: rows may be staged on it as data. */
export function acceptStagedRows(em: EntityManager): void {
  (em as unknown as Record<symbol, EntityManager>)[SELF] = em;
  stagedRows.set(em, []);
}

/** Stages `row` as data on `em` when `em` takes such rows and is in no transaction; false: `em.create` it. */
export function stageRow(em: EntityManager, row: PlainRow): boolean {
  const rows = stagedRows.get(keyOf(em));
  if (!rows || em.isInTransaction()) return false;
  rows.push(row);
  return true;
}

export function hasStagedRows(em: EntityManager): boolean {
  return (stagedRows.get(keyOf(em))?.length ?? 0) > 0;
}

function takeStagedRows(em: EntityManager): PlainRow[] {
  const key = keyOf(em);
  const rows = stagedRows.get(key);
  if (!rows?.length) return NONE;
  stagedRows.set(key, []);
  return rows;
}
const NONE: PlainRow[] = [];

/** The rows staged on `em` as data become entities of its unit of work (before a flush other than the insert path). */
export function createStagedRows(em: EntityManager): void {
  for (const { entity, data } of takeStagedRows(em)) em.create(entity, data);
}

/** The entity's `onCreate` values (the id, timestamps) on `data` where unset, as the flush would set them. */
export function setCreateValues(em: EntityManager, entity: string, data: Record<string, unknown>): void {
  for (const prop of em.getMetadata().find(entity)?.hydrateProps ?? []) {
    if (prop.onCreate && data[prop.name] == null) data[prop.name] = prop.onCreate(data, em);
  }
}

/**
 * A row given as data (what `em.create` would be given). Its entity's `onCreate` values are set on `data` first;
 * on the insert path it is then written without becoming an entity: it is not managed by `em` afterwards (a later
 * read goes to the database). Otherwise it is `em.create`d and flushed.
 */
export interface PlainRow { entity: string; data: Record<string, unknown> }

/** The plain rows' entities and their data restricted to stored properties, owner-checked; undefined: not here. */
function plainRows(em: EntityManager, plain: PlainRow[]): Array<{ meta: EntityMetadata; data: object }> | undefined {
  const out: Array<{ meta: EntityMetadata; data: object }> = [];
  for (const { entity, data } of plain) {
    const meta = em.getMetadata().find(entity);
    if (!meta) return undefined;
    const verdict = insertable(em, meta);
    if (!verdict.ok) return undefined;
    const stored: Record<string, unknown> = {};
    for (const key in data) {
      const prop = meta.properties[key];
      if (prop && prop.persist !== false && data[key] !== undefined) stored[key] = data[key];
    }
    if (meta.primaryKeys.some((pk) => stored[pk] == null)) return undefined;
    out.push({ meta, data: stored });
  }
  for (const { meta, data } of out) {
    for (const guard of insertable(em, meta).guards) guard.beforeCreate({ entity: data, em, meta } as never);
  }
  return out;
}

interface Uow {
  working: boolean;
  postCommitCleanup(): void;
  orphanRemoveStack: Set<unknown>;
  extraUpdates: Set<unknown>;
}

/** Per entity: whether the insert path may write it, and the OwnerGuards whose check it runs as a flush would. */
interface Verdict { subscribers: EventSubscriber[]; ok: boolean; guards: OwnerGuard[] }
const eligible = new WeakMap<EntityMetadata, Verdict>();
const FLUSH_EVENTS = [EventType.beforeFlush, EventType.onFlush, EventType.afterFlush] as const;
const CREATE_EVENTS = [EventType.beforeCreate, EventType.afterCreate] as const;

/** The new rows in `em`'s unit of work, in persist order, when the insert path can write them; else undefined. */
type NewRow = { entity: AnyEntity; meta: EntityMetadata; guards: OwnerGuard[] };
function insertOnly(em: EntityManager): NewRow[] | undefined {
  // MongoDB's connection has no knex: its flush stays MikroORM's.
  const sql = typeof (em.getConnection() as { getKnex?: unknown }).getKnex === 'function';
  if (em.isInTransaction() || !sql) return undefined;
  const uow = em.getUnitOfWork();
  const internals = uow as unknown as Uow;
  if (internals.working || uow.getRemoveStack().size || internals.orphanRemoveStack.size) return undefined;
  if (internals.extraUpdates.size || uow.getCollectionUpdates().length) return undefined;
  const stack = uow.getPersistStack();
  const rows: NewRow[] = [];
  for (const entity of stack) {
    const wrapped = helper(entity);
    if (wrapped.__managed || wrapped.__originalEntityData || !wrapped.__initialized) return undefined;
    const meta = wrapped.__meta;
    const verdict = insertable(em, meta);
    if (!verdict.ok || !wrapped.hasPrimaryKey()) return undefined;
    rows.push({ entity: entity as AnyEntity, meta, guards: verdict.guards });
  }
  // Nothing else managed: an entity loaded (and maybe changed) needs the full flush's dirty check.
  let known = 0;
  for (const store of identityStores(uow)) known += store.size;
  return known === stack.size ? rows : undefined;
}

function identityStores(uow: ReturnType<EntityManager['getUnitOfWork']>): Iterable<Map<unknown, unknown>> {
  const map = uow.getIdentityMap() as unknown as { registry: Map<unknown, Map<unknown, unknown>> };
  return map.registry.values();
}

/** Judged once per entity, again when a subscriber is registered (plugins register theirs at start). */
function insertable(em: EntityManager, meta: EntityMetadata): Verdict {
  const subscribers = em.getEventManager().getSubscribers();
  const cached = eligible.get(meta);
  if (cached && sameSubscribers(cached.subscribers, subscribers)) return cached;
  const guards: OwnerGuard[] = [];
  const verdict = { subscribers: [...subscribers], ok: judge(meta, subscribers, guards), guards };
  eligible.set(meta, verdict);
  return verdict;
}

function sameSubscribers(judged: EventSubscriber[], now: Set<EventSubscriber>): boolean {
  if (judged.length !== now.size) return false;
  let i = 0;
  for (const subscriber of now) if (judged[i++] !== subscriber) return false;
  return true;
}

function judge(meta: EntityMetadata, subscribers: Set<EventSubscriber>, found: OwnerGuard[]): boolean {
  if (meta.embeddable || meta.discriminatorColumn || meta.versionProperty) return false;
  if (meta.virtual || meta.readonly) return false;
  if (meta.props.some((p) => p.kind !== ReferenceKind.SCALAR || p.generated || p.formula)) return false;
  if (Object.values(meta.hooks ?? {}).some((hooks) => hooks?.length)) return false;
  for (const subscriber of subscribers) {
    const entities = subscriber.getSubscribedEntities?.().map((e) => (typeof e === 'string' ? e : e.name));
    const follows = !entities?.length || entities.includes(meta.className);
    const listener = subscriber as Record<string, unknown>;
    if (FLUSH_EVENTS.some((e) => typeof listener[e] === 'function') && (!entities?.length || follows)) return false;
    if (!follows || !CREATE_EVENTS.some((e) => typeof listener[e] === 'function')) continue;
    if (!(subscriber instanceof OwnerGuard) || typeof listener.afterCreate === 'function') return false;
    found.push(subscriber);
  }
  return true;
}
