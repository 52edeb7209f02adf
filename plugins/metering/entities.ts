import { defineEntity, p, type RowOf } from '../../kernel/index.ts';

/**
 * One usage event (a tool call, a chat turn...), kept 90 days. Times are epoch ms (`atMs`) and a
 * UTC `day` so that sums and groupings are plain integer/string comparisons on every SQL driver.
 */
export const MeteringUsage = defineEntity('MeteringUsage', {
  table: 'metering_usage',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    kind: p.string({ length: 50 }),
    subject: p.string({ length: 200 }),
    tokensIn: p.integer(),
    tokensOut: p.integer(),
    tokens: p.integer(),
    costMicros: p.bigint(),
    reference: p.string({ length: 200, nullable: true }),
    status: p.string({ length: 10 }),
    atMs: p.bigint(),
    day: p.string({ length: 10 }),
  },
  indexes: [{ properties: ['userId', 'atMs'] }, { properties: ['userId', 'day'] }, { properties: ['day'] }],
});
export type UsageRow = RowOf<typeof MeteringUsage>;

/** Usage per user, kind and subject and UTC day, kept 2 years (rebuilt from the detail while it exists). */
export const MeteringDaily = defineEntity('MeteringDaily', {
  table: 'metering_daily',
  properties: {
    id: p.id(),
    day: p.string({ length: 10 }),
    userId: p.string({ length: 36 }),
    kind: p.string({ length: 50 }),
    subject: p.string({ length: 200 }),
    invocations: p.integer(),
    failures: p.integer(),
    tokensIn: p.bigint(),
    tokensOut: p.bigint(),
    tokens: p.bigint(),
    costMicros: p.bigint(),
  },
  indexes: [{ properties: ['day', 'userId', 'kind', 'subject'], unique: true }, { properties: ['userId', 'day'] }],
});
export type DailyRow = RowOf<typeof MeteringDaily>;

/** Request metering per principal and UTC day; `version` makes flushes from several instances add up. */
export const MeteringRequestStat = defineEntity('MeteringRequestStat', {
  table: 'metering_request_stats',
  properties: {
    id: p.id(),
    principalId: p.string({ length: 36 }),
    principalType: p.string({ length: 20 }),
    day: p.string({ length: 10 }),
    total: p.bigint(),
    successful: p.bigint(),
    failed: p.bigint(),
    bytesIn: p.bigint(),
    bytesOut: p.bigint(),
    durationMicros: p.bigint(),
    firstAtMs: p.bigint(),
    lastAtMs: p.bigint(),
    operations: p.json<Record<string, number>>(),
    routes: p.json<Record<string, number>>(),
    version: p.integer(),
  },
  indexes: [{ properties: ['principalId', 'day'], unique: true }, { properties: ['day'] }],
});
export type RequestStatRow = RowOf<typeof MeteringRequestStat>;

/** A limit reached in a period: notifies once (the unique key) and starts the grace period. */
export const MeteringLimitNotice = defineEntity('MeteringLimitNotice', {
  table: 'metering_limit_notices',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    limitName: p.string({ length: 40 }),
    period: p.string({ length: 40 }),
    reachedAtMs: p.bigint(),
  },
  indexes: [{ properties: ['userId', 'limitName', 'period'], unique: true }],
});
export type LimitNoticeRow = RowOf<typeof MeteringLimitNotice>;

/** Where to mail a user, learnt from identity's `identity.user.registered` (identity exports no lookup). */
export const MeteringContact = defineEntity('MeteringContact', {
  table: 'metering_contacts',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    email: p.string({ length: 320 }),
  },
  indexes: [{ properties: ['userId'], unique: true }],
});
export type ContactRow = RowOf<typeof MeteringContact>;

export const entities = [MeteringUsage, MeteringDaily, MeteringRequestStat, MeteringLimitNotice, MeteringContact];
