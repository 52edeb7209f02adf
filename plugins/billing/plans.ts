import type { MikroORM, EntityManager } from '@mikro-orm/core';
import { AppError, errors, type Clock } from '../../kernel/index.ts';
import type { Plan } from './api.ts';
import type { PlanSeed } from './config.ts';
import type { PlanRow } from './entities.ts';

export function planView(r: PlanRow): Plan {
  return {
    id: r.id, name: r.name, description: r.description, priceCents: r.priceCents,
    interval: r.interval as Plan['interval'], features: r.features ?? [], limits: r.limits ?? {},
    monthlyFreeCreditsCents: r.monthlyFreeCreditsCents, gracePeriodHours: r.gracePeriodHours,
    visibility: r.visibility as Plan['visibility'], status: r.status as Plan['status'],
  };
}

function withDefaults(seed: PlanSeed): Plan {
  return {
    description: '', features: [], limits: {}, gracePeriodHours: 0, visibility: 'public', status: 'active', ...seed,
  };
}

/**
 * Plans are rows: seeded from `plugins.billing.plans` when absent, then changed by admins. Read on
 * every request (tiers, entitlements), so this instance keeps them in memory for `ttlMs`; its own
 * writes refresh at once, another instance's are seen within `ttlMs`.
 */
export class PlanCatalog {
  private cached?: { at: number; plans: Plan[] };

  constructor(
    private orm: MikroORM,
    private clock: Clock,
    private ttlMs: number,
    private defaultPlan: string,
  ) {}

  /** Inserts the configured plans the database does not hold yet; existing rows are the admins'. */
  async seed(seeds: PlanSeed[]): Promise<void> {
    const em = this.orm.em.fork();
    const have = new Set(((await em.find('BillingPlan', {})) as PlanRow[]).map((r) => r.id));
    seeds.forEach((s, position) => {
      if (!have.has(s.id)) em.create('BillingPlan', { ...withDefaults(s), position });
    });
    await em.flush().catch((e) => {
      // Another instance seeding at the same moment inserted the same ids: theirs stand.
      if (!/unique|duplicate|constraint/i.test(String((e as Error).message))) throw e;
    });
    this.cached = undefined;
    if (!(await this.get(this.defaultPlan))) {
      throw new Error(
        `plugins.billing.defaultPlan: "${this.defaultPlan}" is not a plan (seed it in plugins.billing.plans)`,
      );
    }
  }

  async all(): Promise<Plan[]> {
    const now = this.clock.now();
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.plans;
    const rows = (await this.orm.em
      .fork()
      .find('BillingPlan', {}, { orderBy: { position: 'asc', id: 'asc' } })) as PlanRow[];
    this.cached = { at: now, plans: rows.map(planView) };
    return this.cached.plans;
  }

  async get(id: string): Promise<Plan | null> {
    return (await this.all()).find((p) => p.id === id) ?? null;
  }

  async require(id: string): Promise<Plan> {
    const plan = await this.get(id);
    if (!plan) throw errors.notFound(`Plan ${id} not found`);
    return plan;
  }

  /** The plan of users with no active subscription. */
  async fallback(): Promise<Plan> {
    const plan = await this.get(this.defaultPlan);
    if (!plan) throw errors.unavailable('billing plans');
    return plan;
  }

  async create(em: EntityManager, input: PlanSeed): Promise<Plan> {
    if (await em.findOne('BillingPlan', { id: input.id })) {
      throw new AppError(409, 'PLAN_EXISTS', `A plan with id ${input.id} exists`);
    }
    const position = await em.count('BillingPlan', {});
    const row = em.create<PlanRow>('BillingPlan', { ...withDefaults(input), position } as PlanRow);
    await em.flush();
    this.cached = undefined;
    return planView(row);
  }

  async update(
    em: EntityManager,
    id: string,
    changes: Partial<Omit<Plan, 'id'>>,
  ): Promise<{ before: Plan; after: Plan }> {
    const row = (await em.findOne('BillingPlan', { id })) as PlanRow | null;
    if (!row) throw errors.notFound(`Plan ${id} not found`);
    const before = planView(row);
    if (id === this.defaultPlan && changes.status === 'retired') {
      throw new AppError(409, 'DEFAULT_PLAN', 'The default plan cannot be retired');
    }
    em.assign(row, changes);
    await em.flush();
    this.cached = undefined;
    return { before, after: planView(row) };
  }

  /** Deletes a plan nobody is subscribed to; a plan in use is retired instead (hidden, no new subscribers). */
  async remove(em: EntityManager, id: string): Promise<{ deleted: boolean; plan: Plan }> {
    const row = (await em.findOne('BillingPlan', { id })) as PlanRow | null;
    if (!row) throw errors.notFound(`Plan ${id} not found`);
    if (id === this.defaultPlan) throw new AppError(409, 'DEFAULT_PLAN', 'The default plan cannot be removed');
    const inUse = await em.count('BillingSubscription', { $or: [{ planId: id }, { scheduledPlanId: id }] });
    if (inUse) {
      row.status = 'retired';
      await em.flush();
    } else {
      await em.remove(row).flush();
    }
    this.cached = undefined;
    return { deleted: !inUse, plan: planView(row) };
  }
}
