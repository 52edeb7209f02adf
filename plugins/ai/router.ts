/**
 * Which model answers, and who takes over when its vendor fails. Precedence: an explicit model, else the user's
 * preference, else the context default, else the task matrix (the task classified from the text). Fallbacks follow
 * the vendor chains of config: for each next vendor, its model of the same type closest in price. Every candidate
 * is accessible to the tier, active, served by a configured provider and within the budget; cooled-down providers
 * (open circuit) are skipped when the call is made.
 */
import {
  AppError, isAiError, type AiProvider, type AiProviders, type ChatStreamEvent,
} from '../../kernel/index.ts';
import {
  TASK_TYPES, type AiModel, type RouteAttempt, type RoutePlan, type RouteRequest, type Router, type TaskType,
} from './api.ts';
import type { Catalog } from './catalog.ts';
import type { ResolvedAiConfig } from './config.ts';

export function classifier(rules: ResolvedAiConfig['classifier']): (text: string) => TaskType {
  const compiled = (Object.entries(rules) as Array<[TaskType, string[]]>).map(([task, words]) => ({
    task,
    patterns: words.map((w) => {
      const escaped = w.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return /^[a-z0-9]/.test(w) ? new RegExp(`\\b${escaped}\\b`, 'g') : new RegExp(escaped, 'g');
    }),
  }));
  const order = TASK_TYPES;
  compiled.sort((a, b) => order.indexOf(a.task) - order.indexOf(b.task));
  return (text) => {
    const lower = text.toLowerCase();
    let best: TaskType = 'general';
    let bestScore = 0;
    for (const { task, patterns } of compiled) {
      const score = patterns.reduce((n, p) => n + (lower.match(p)?.length ?? 0), 0);
      if (score > bestScore) { best = task; bestScore = score; }
    }
    return best;
  };
}

/** What a route depends on besides the catalog's models (which are cached as one array for a while). */
const routeKey = (chosen: AiModel, req: RouteRequest) => `${chosen.id}\n${req.tier}\n${req.type ?? ''}`;

export class AiRouter implements Router {
  readonly classify: (text: string) => TaskType;
  /** Per catalog array (replaced when the catalog changes): models by id, and fallbacks by route. */
  private derived = new WeakMap<AiModel[], { byId: Map<string, AiModel>; fallbacks: Map<string, AiModel[]> }>();

  constructor(private config: ResolvedAiConfig, private catalog: Catalog, private ai: AiProviders) {
    this.classify = classifier(config.classifier);
  }

  private usable(m: AiModel, req: RouteRequest): boolean {
    if (!this.catalog.accessible(m, req.tier) || m.status !== 'active') return false;
    if (this.catalog.providerFor(m) === undefined) return false;
    if (req.type && m.type !== req.type) return false;
    if (req.maxCostMicros !== undefined && req.estimate) {
      return this.catalog.costMicros(m, req.estimate) <= req.maxCostMicros;
    }
    return true;
  }

  private derivedOf(models: AiModel[]) {
    let d = this.derived.get(models);
    if (!d) this.derived.set(models, (d = { byId: new Map(models.map((m) => [m.id, m])), fallbacks: new Map() }));
    return d;
  }

  async route(req: RouteRequest): Promise<RoutePlan> {
    const models = await this.catalog.list();
    const derived = this.derivedOf(models);
    const byId = derived.byId;
    // Classified only when asked for (the matrix, or the plan's `task`): an explicit model needs no task.
    let classified: TaskType | undefined = req.task ?? (req.text ? undefined : 'general');
    const taskOf = () => (classified ??= this.classify(req.text!));
    let chosen: AiModel | undefined;
    let reason: RoutePlan['reason'] = 'task';
    if (req.model) {
      chosen = byId.get(req.model);
      if (!chosen || chosen.status === 'disabled') {
        throw new AppError(404, 'MODEL_NOT_FOUND', `No model "${req.model}" in this deployment`);
      }
      if (!this.usable(chosen, req)) throw this.notAvailable(chosen, models, req);
      reason = 'explicit';
    }
    if (!chosen && req.preference) {
      const preferred = byId.get(req.preference);
      if (preferred && this.usable(preferred, req)) { chosen = preferred; reason = 'preference'; }
    }
    if (!chosen && req.context && this.config.contexts[req.context]) {
      const contextual = byId.get(this.config.contexts[req.context]);
      if (contextual && this.usable(contextual, req)) { chosen = contextual; reason = 'context'; }
    }
    if (!chosen) {
      const column = this.catalog.isPremiumTier(req.tier) ? 'premium' : 'free';
      const fromMatrix = byId.get(this.config.matrix[taskOf()][column]);
      chosen = fromMatrix && this.usable(fromMatrix, req) ? fromMatrix
        : models.filter((m) => this.usable(m, req) && m.type === (req.type ?? 'text'))
          .sort((a, b) => price(a) - price(b))[0];
      reason = 'task';
    }
    if (!chosen) {
      throw new AppError(503, 'NO_MODEL_AVAILABLE', 'No model this tier may use is available within the budget', {
        headers: { 'Retry-After': '30' }, details: { tier: req.tier, task: taskOf(), retry_after: 30 } });
    }
    // The fallbacks depend on the model, tier and type only (a budget makes them per call): remembered per catalog.
    let fallbacks = req.maxCostMicros === undefined ? derived.fallbacks.get(routeKey(chosen, req)) : undefined;
    if (!fallbacks) {
      fallbacks = this.fallbacks(chosen, models, req);
      if (req.maxCostMicros === undefined) derived.fallbacks.set(routeKey(chosen, req), fallbacks);
    }
    const model = chosen;
    return {
      model, reason, candidates: [model, ...fallbacks],
      get task() { return taskOf(); },
    };
  }

  private fallbacks(chosen: AiModel, models: AiModel[], req: RouteRequest): AiModel[] {
    const out: AiModel[] = [];
    for (const vendor of this.config.fallbacks[chosen.vendor] ?? []) {
      const pick = models
        .filter((m) => m.vendor === vendor && m.type === chosen.type && m.id !== chosen.id && this.usable(m, req))
        .sort((a, b) => Math.abs(price(a) - price(chosen)) - Math.abs(price(b) - price(chosen)))[0];
      if (pick && !out.includes(pick)) out.push(pick);
    }
    return out;
  }

  private notAvailable(model: AiModel, models: AiModel[], req: RouteRequest): AppError {
    const alternatives = models.filter((m) => m.type === model.type && this.usable(m, req)).map((m) => m.id);
    const why = !this.catalog.accessible(model, req.tier)
      ? `is not available on the ${req.tier} tier`
      : this.catalog.providerFor(model) === undefined
        ? 'has no provider configured here'
        : 'costs more than the budget';
    return new AppError(403, 'MODEL_NOT_AVAILABLE', `Model "${model.id}" ${why}`, {
      details: { model: model.id, tier: req.tier, alternatives },
    });
  }

  stream(plan: RoutePlan, open: (provider: AiProvider, model: AiModel) => AsyncIterable<ChatStreamEvent>,
    onModel?: (model: AiModel, attempts: RouteAttempt[]) => void): AsyncIterable<ChatStreamEvent> {
    return streamWithFallback(this, plan, open, onModel);
  }

  async run<T>(plan: RoutePlan, call: (provider: AiProvider, model: AiModel) => Promise<T>) {
    const attempts: RouteAttempt[] = [];
    let last: unknown;
    for (const model of plan.candidates) {
      const name = this.catalog.providerFor(model)!;
      if (!this.ai.available(name)) {
        attempts.push({ model: model.id, provider: name, skipped: 'cooled_down' });
        continue;
      }
      try {
        const value = await call(this.ai.get(name), model);
        attempts.push({ model: model.id, provider: name });
        return { value, model, attempts };
      } catch (err) {
        attempts.push({ model: model.id, provider: name, error: isAiError(err) ? err.kind : 'error' });
        if (!isAiError(err) || !err.retryable) throw err;
        last = err;
      }
    }
    if (last) throw last;
    throw new AppError(503, 'AI_UNAVAILABLE', 'Every provider for this request is cooled down', {
      headers: { 'Retry-After': '30' }, details: { attempts, retry_after: 30 } });
  }
}

export async function* streamWithFallback(router: AiRouter, plan: RoutePlan,
  open: (provider: AiProvider, model: AiModel) => AsyncIterable<ChatStreamEvent>,
  onModel?: (model: AiModel, attempts: RouteAttempt[]) => void): AsyncGenerator<ChatStreamEvent> {
  let iterator: AsyncIterator<ChatStreamEvent> | undefined;
  let first: IteratorResult<ChatStreamEvent> | undefined;
  const { model, attempts } = await router.run(plan, async (provider, m) => {
    const it = open(provider, m)[Symbol.asyncIterator]();
    first = await it.next();
    iterator = it;
    return m;
  });
  onModel?.(model, attempts);
  try {
    if (first && !first.done) yield first.value;
    for (let next = await iterator!.next(); !next.done; next = await iterator!.next()) yield next.value;
  } finally {
    await iterator?.return?.();
  }
}

const price = (m: AiModel) => m.inputMicrosPer1M + m.outputMicrosPer1M;
