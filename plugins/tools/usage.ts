import type { EntityManager } from '@mikro-orm/core';
import { errors, paginate, type FastReads, type Page, type PageRequest, type Where } from '../../kernel/index.ts';
import type { ToolInvocationRow, ToolRow } from './entities.ts';
import type { Schemas } from './contract.gen.ts';

export interface Range { from?: string; to?: string }
export type InvocationView = Schemas['InvocationLog'];
type Slim = Pick<ToolInvocationRow, 'userId' | 'toolId' | 'tokensUsed' | 'status' | 'createdAt'>;
interface Tally { invocations: number; tokens: number; failures: number }

/** Invocation history and aggregates (aggregated in the process over the range's rows: a range is bounded). */
export class ToolUsage {
  constructor(private em: EntityManager, private db: FastReads) {}

  async history(userId: string, q: Range & { toolId?: string }, paging: PageRequest): Promise<Page<InvocationView>> {
    const where: Record<string, unknown> = { userId, ...createdIn(q) };
    if (q.toolId) where.toolId = q.toolId;
    const page = await paginate<ToolInvocationRow, ToolInvocationRow>(this.em, 'ToolInvocation', {
      request: paging, where, map: (r) => r,
    });
    const names = await this.names(page.data.map((r) => r.toolId));
    return { ...page, data: page.data.map((r) => invocationView(r, names)) };
  }

  async summary(userId: string, q: Range) {
    const rows = await this.rows({ userId, ...createdIn(q) });
    const names = await this.names(rows.map((r) => r.toolId));
    const perTool = group(rows, (r) => r.toolId);
    const perDay = group(rows, (r) => day(r.createdAt));
    return {
      totalTokens: sum(rows, (r) => r.tokensUsed),
      invocations: rows.length,
      perTool: [...perTool].map(([toolId, t]) => ({ toolId, toolName: names.get(toolId) ?? null, ...t })),
      perDay: [...perDay].sort(([a], [b]) => a.localeCompare(b))
        .map(([d, t]) => ({ day: d, invocations: t.invocations, tokens: t.tokens })),
    };
  }

  /** Platform statistics; `now` adds the registered users and active subscriptions per plan. */
  async stats(q: Range, now: { users: number; activeSubscriptions: Array<{ planId: string; count: number }> }) {
    const rows = await this.rows(createdIn(q));
    const names = await this.names(rows.map((r) => r.toolId));
    const perToolPerDay = [...group(rows, (r) => `${r.toolId}|${day(r.createdAt)}`)].map(([key, t]) => {
      const [toolId, d] = key.split('|');
      return { toolId, toolName: names.get(toolId) ?? null, day: d, ...t };
    }).sort((a, b) => a.day.localeCompare(b.day) || a.toolId.localeCompare(b.toolId));
    const users = group(rows, (r) => r.userId);
    const topUsers = [...users].map(([userId, t]) => ({ userId, invocations: t.invocations, tokens: t.tokens }))
      .sort((a, b) => b.tokens - a.tokens || b.invocations - a.invocations).slice(0, 10);
    return {
      ...now,
      activeUsers: users.size, invocations: rows.length, tokens: sum(rows, (r) => r.tokensUsed),
      failures: rows.filter((r) => r.status !== 'ok').length, perToolPerDay, topUsers,
    };
  }

  /** Plain rows through the prepared read path: aggregates over thousands of rows skip hydration. */
  private rows(where: Record<string, unknown>): Promise<Slim[]> {
    const fields = ['userId', 'toolId', 'tokensUsed', 'status', 'createdAt'];
    return this.db.find<Slim>('ToolInvocation', where as Where, { fields });
  }

  private async names(ids: string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    if (!unique.length) return new Map();
    const tools = await this.em.find<ToolRow>('Tool', { id: { $in: unique } }, { fields: ['id', 'name'] as never });
    return new Map(tools.map((t) => [t.id, t.name]));
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

function instant(v: string, field: string, dayEnd: number): Date {
  const at = DATE.test(v) ? Date.parse(`${v}T00:00:00Z`) + dayEnd : Date.parse(v);
  if (!Number.isFinite(at)) {
    throw errors.validation([{ field: `query.${field}`, code: 'format', message: 'must be a date or a date-time' }]);
  }
  return new Date(at);
}

/** `from` inclusive; `to` exclusive as a date-time, the whole day as a date (`to=2026-12-01` takes in the 1st). */
function createdIn(q: Range): Record<string, unknown> {
  const range: Record<string, Date> = {};
  if (q.from) range.$gte = instant(q.from, 'from', 0);
  if (q.to) range.$lt = instant(q.to, 'to', DAY_MS);
  return Object.keys(range).length ? { createdAt: range } : {};
}

function group(rows: Slim[], key: (r: Slim) => string): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const r of rows) {
    const t = out.get(key(r)) ?? { invocations: 0, tokens: 0, failures: 0 };
    t.invocations++;
    t.tokens += r.tokensUsed;
    if (r.status !== 'ok') t.failures++;
    out.set(key(r), t);
  }
  return out;
}

const sum = (rows: Slim[], f: (r: Slim) => number) => rows.reduce((n, r) => n + f(r), 0);
const day = (d: Date | string) => new Date(d).toISOString().slice(0, 10);

function invocationView(r: ToolInvocationRow, names: Map<string, string>): InvocationView {
  return {
    id: r.id, userId: r.userId, toolId: r.toolId, toolName: names.get(r.toolId) ?? null, tokensUsed: r.tokensUsed,
    status: r.status as InvocationView['status'], httpStatus: r.httpStatus ?? null, durationMs: r.durationMs,
    createdAt: new Date(r.createdAt).toISOString(),
  };
}
