import type { EntityManager } from '@mikro-orm/core';
import type { RequestStatRow } from './entities.ts';
import { plainCounts, RequestTally, type RequestMeter } from './requestMeter.ts';

const MB = 1024 * 1024;

/**
 * A principal's request metering (seed 002's `/usage/stats`): what the database holds plus
 * this instance's counts not flushed yet, optionally for a range of UTC days.
 */
export async function requestStats(em: EntityManager, meter: RequestMeter, principalId: string,
  range: { from?: string; to?: string }) {
  const where: Record<string, unknown> = { principalId };
  const day: Record<string, string> = {};
  if (range.from !== undefined) day.$gte = range.from.slice(0, 10);
  if (range.to !== undefined) day.$lte = range.to.slice(0, 10);
  if (Object.keys(day).length) where.day = day;
  const rows = await em.find<RequestStatRow>('MeteringRequestStat', where);
  let sum: RequestTally | undefined;
  const add = (t: RequestTally) => {
    if (sum) sum.merge(t);
    else {
      sum = new RequestTally(t.principalType, t.firstAtMs, t.lastAtMs);
      sum.merge(t);
    }
  };
  for (const r of rows) add(tallyOf(r));
  for (const u of meter.unflushed(principalId)) {
    if (range.from !== undefined && u.day < range.from.slice(0, 10)) continue;
    if (range.to !== undefined && u.day > range.to.slice(0, 10)) continue;
    add(u.tally);
  }
  const t = sum;
  return {
    userId: principalId,
    totalRequests: t?.total ?? 0,
    successfulRequests: t?.successful ?? 0,
    failedRequests: t?.failed ?? 0,
    bytesIn: t?.bytesIn ?? 0,
    bytesOut: t?.bytesOut ?? 0,
    totalDataTransferredMb: t ? Math.round(((t.bytesIn + t.bytesOut) / MB) * 100) / 100 : 0,
    averageResponseTimeMs: t && t.total ? Math.round((t.durationMs / t.total) * 10) / 10 : 0,
    operationCounts: t ? plainCounts(t.operations) : {},
    endpointCounts: t ? plainCounts(t.routes) : {},
    firstRequestTime: t ? new Date(t.firstAtMs).toISOString() : null,
    lastRequestTime: t ? new Date(t.lastAtMs).toISOString() : null,
  };
}

function tallyOf(r: RequestStatRow): RequestTally {
  const t = new RequestTally(r.principalType, Number(r.firstAtMs), Number(r.lastAtMs));
  t.total = Number(r.total);
  t.successful = Number(r.successful);
  t.failed = Number(r.failed);
  t.bytesIn = Number(r.bytesIn);
  t.bytesOut = Number(r.bytesOut);
  t.durationMs = Number(r.durationMicros) / 1000;
  for (const [k, v] of Object.entries(r.operations ?? {})) t.operations.set(k, { n: v });
  for (const [k, v] of Object.entries(r.routes ?? {})) t.routes.set(k, { n: v });
  return t;
}
