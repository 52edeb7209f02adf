/**
 * The AI gateway: every chat and embedding call of the product goes through here (chats, the OpenAI-compatible
 * surface, generation jobs). In order:
 * 1. moderate the input (HIGH → 400 CONTENT_BLOCKED, queued for review; MEDIUM → a flag and a warning);
 * 2. route (explicit model, preference, context, task) within the tier; premium models need the plan's feature;
 * 3. limits (80% → `X-Usage-Warning`, 100% → 402 USAGE_LIMIT_EXCEEDED);
 * 4. hold the cost BEFORE the call, with `max_tokens` bounded to what the hold pays (402 INSUFFICIENT_CREDITS
 *    when the balance cannot pay even a minimal answer); fallbacks run with the cap the same hold pays at their
 *    prices, and are left out when it pays too little;
 * 5. call with fallbacks; moderate the output at chunk boundaries as it streams (redact, or stop: content_filter);
 * 6. capture the exact cost (the vendor's usage, else the tokenizer's count), release when nothing was used, and
 *    stage ONE usage event (and review-queue rows) in the caller's unit of work.
 * A stream ends with exactly one `done` or `error`; a consumer that stops reading (client gone) aborts the upstream
 * and the partial output is billed for what was used.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import {
  AppError, createStreamModerator, errors, isAiError, type AiProviders, type ChatRequest, type Clock,
  type IdGenerator, type Principal, type StreamModerator,
} from '../../kernel/index.ts';
import type { Hold, Ledger, LedgerEntryDetail, SqlTarget } from '../billing/api.ts';
import type { Entitlements, Limits, Metering, UsageEvent } from '../metering/api.ts';
import { enforce } from '../metering/api.ts';
import type {
  AiGateway, AiModel, GatewayChatCall, GatewayChatResult, GatewayEstimate, GatewayStreamEvent, GatewayUsage,
  RoutePlan, Strictness,
} from './api.ts';
import type { Catalog } from './catalog.ts';
import type { ResolvedAiConfig } from './config.ts';
import type { UserSettingsCache } from './settingsCache.ts';
import type { AiRouter } from './router.ts';
import {
  affordableOutput, conversationTokens, fundedCandidates, limitBound, requestedOutput, withMargin, type Candidate,
} from './gatewayBudget.ts';
import {
  blockedError, checkerOf, flagWarning, judgeInput, policyFor, stageQueueItem, strictness,
} from './gatewaySafety.ts';
import { lastUserText, priceVersion, Progress, referenceOf, type Prepared } from './gatewayCall.ts';
import { TokenCounts } from './tokenCounts.ts';

export interface GatewayDeps {
  aiConfig: ResolvedAiConfig; modelCatalog: Catalog; aiRouter: AiRouter; aiProvider: AiProviders;
  ledger: Ledger; metering: Metering; limits: Limits; entitlements: Entitlements;
  orm: MikroORM; clock: Clock; ids: IdGenerator; logger: Logger; aiSettings: UserSettingsCache;
}

type Outcome = 'ok' | 'failed' | 'aborted';
const MICROS_PER_CENT = 1_000_000;

export class Gateway implements AiGateway {
  private counts = new TokenCounts();

  constructor(private d: GatewayDeps) {}

  private get settings() { return this.d.aiConfig.gateway; }

  // ------------------------------------------------------------------------------------------- estimate

  async estimate(principal: Principal, call: Omit<GatewayChatCall, 'principal' | 'reference'>):
    Promise<GatewayEstimate> {
    const tier = this.d.modelCatalog.tierOf(principal);
    const plan = await this.d.aiRouter.route({ model: call.model, preference: call.preference, context: call.context,
      task: call.task, text: lastUserText(call.messages), tier, type: 'text' });
    const model = plan.model;
    const inputTokens = conversationTokens(call.messages, this.counter(model));
    const maxOutputTokens = requestedOutput(model, call.maxTokens, this.settings);
    return this.priced(model, inputTokens, maxOutputTokens, tier);
  }

  /** The estimate for given token counts (`POST /ai/estimate` with `input_tokens`), the model routed as a call's. */
  async pricedRoute(principal: Principal | undefined, o: { model?: string; context?: string }, inputTokens: number,
    outputTokens: number | undefined): Promise<GatewayEstimate> {
    const tier = this.d.modelCatalog.tierOf(principal);
    const plan = await this.d.aiRouter.route({ model: o.model, context: o.context, tier, type: 'text' });
    return this.priced(plan.model, inputTokens, outputTokens ?? requestedOutput(plan.model, undefined,
      this.settings), tier);
  }

  private priced(model: AiModel, inputTokens: number, maxOutputTokens: number, tier: string): GatewayEstimate {
    const estimatedMicros = this.d.modelCatalog.costMicros(model, { input: inputTokens, output: maxOutputTokens });
    const view = this.d.modelCatalog.view(model, tier);
    return { model: model.id, inputTokens, maxOutputTokens, estimatedMicros,
      estimatedCents: estimatedMicros / MICROS_PER_CENT,
      inputCostPer1M: view.inputCostPer1M, outputCostPer1M: view.outputCostPer1M };
  }

  // ------------------------------------------------------------------------------------------- chat

  async chat(call: GatewayChatCall): Promise<GatewayChatResult> {
    const p = await this.prepare(call);
    const progress = new Progress();
    const caps = new Map(p.candidates.map((c) => [c.model.id, c.maxTokens]));
    try {
      const run = await this.d.aiRouter.run(this.planOf(p), (provider, m) =>
        provider.chat(this.request(call, m, caps.get(m.id)!), { signal: call.signal, apiKey: call.userKey?.apiKey }));
      Object.assign(progress, { model: run.model, attempts: run.attempts, usage: run.value.usage,
        finishReason: run.value.finishReason, raw: run.value.text, ttftMs: this.d.clock.now() - p.started });
      const moderator = this.outputModerator(p);
      if (!moderator) progress.sent = run.value.text;
      else {
        const step = await moderator.push(run.value.text);
        const tail = await moderator.end();
        progress.sent = step.text + tail.text;
        progress.outputHits = [...moderator.flagged];
        if (step.stopped || tail.stopped) { progress.stopped = true; progress.finishReason = 'content_filter'; }
      }
      return await this.settle(p, progress, 'ok');
    } catch (err) {
      if (!progress.settling) {
        await this.settle(p, progress, call.signal?.aborted ? 'aborted' : 'failed', err).catch((e) => this.lost(e));
      }
      throw err;
    }
  }

  // ------------------------------------------------------------------------------------------- stream

  stream(call: GatewayChatCall): AsyncIterable<GatewayStreamEvent> {
    return this.streamed(call);
  }

  private async *streamed(call: GatewayChatCall): AsyncGenerator<GatewayStreamEvent> {
    const p = await this.prepare(call);
    if (call.onReady) {
      call.onReady();
      // The caller's first bytes (headers, a role chunk) reach the socket before the upstream call is set up.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const inner = new AbortController();
    const onAbort = () => inner.abort(call.signal?.reason);
    if (call.signal?.aborted) inner.abort(call.signal.reason);
    else call.signal?.addEventListener('abort', onAbort, { once: true });
    const progress = new Progress();
    const moderator = this.outputModerator(p);
    const caps = new Map(p.candidates.map((c) => [c.model.id, c.maxTokens]));
    let settled = false;
    try {
      const upstream = this.d.aiRouter.stream(this.planOf(p), (provider, m) =>
        provider.stream(this.request(call, m, caps.get(m.id)!), { signal: inner.signal, apiKey: call.userKey?.apiKey }),
      (m, attempts) => { progress.model = m; progress.attempts = attempts; });
      const count = this.counter(p.plan.model);
      for await (const e of upstream) {
        if (e.type === 'done') {
          progress.usage = e.usage;
          progress.finishReason = e.finishReason;
          continue;
        }
        progress.raw += e.text;
        progress.deltas++;
        progress.uncounted.push(e.text);
        progress.ttftMs ??= this.d.clock.now() - p.started;
        const step = moderator ? await moderator.push(e.text) : { text: e.text, stopped: false };
        if (step.text) {
          progress.sent += step.text;
          yield { type: 'chunk', text: step.text };
        }
        if (step.stopped) {
          progress.stopped = true;
          progress.finishReason = 'content_filter';
          inner.abort();
          break;
        }
        if (progress.deltas % this.settings.tokensEventEvery === 0) {
          for (const text of progress.uncounted) progress.counted += count(text);
          progress.uncounted.length = 0;
          yield { type: 'tokens', input: p.inputTokens, output: progress.counted };
        }
      }
      if (moderator && !progress.stopped) {
        const tail = await moderator.end();
        if (tail.text) {
          progress.sent += tail.text;
          yield { type: 'chunk', text: tail.text };
        }
        if (tail.stopped) {
          progress.stopped = true;
          progress.finishReason = 'content_filter';
        }
      }
      if (moderator) progress.outputHits = [...moderator.flagged];
      const result = await this.settle(p, progress, 'ok');
      settled = true;
      yield { type: 'tokens', input: result.usage.promptTokens, output: result.usage.completionTokens };
      yield { type: 'done', result };
    } catch (err) {
      if (settled || progress.settling) {
        settled = true;
        const { code, message, status } = describe(err, 'failed');
        yield { type: 'error', code, message, status };
        return;
      }
      settled = true;
      if (moderator) progress.outputHits = [...moderator.flagged];
      const outcome: Outcome = call.signal?.aborted ? 'aborted' : 'failed';
      const partial = await this.settle(p, progress, outcome, err).catch((e) => { this.lost(e); return undefined; });
      const { code, message, status } = describe(err, outcome);
      yield { type: 'error', code, message, status, ...(partial ? { partial } : {}) };
    } finally {
      call.signal?.removeEventListener('abort', onAbort);
      if (!settled && !progress.settling) {
        // The consumer stopped reading (the client went away): stop the upstream, bill what it produced.
        inner.abort();
        if (moderator) progress.outputHits = [...moderator.flagged];
        await this.settle(p, progress, 'aborted').catch((e) => this.lost(e));
      }
    }
  }

  // ------------------------------------------------------------------------------------------- embed

  async embed(principal: Principal, o: { model?: string; input: string[]; reference: { kind: string; id: string };
    userKey?: { provider: string; apiKey: string }; em?: EntityManager }) {
    const userId = userOf(principal);
    if (!o.input.length) throw errors.validation([{ field: 'input', message: 'must not be empty' }]);
    const plan = await this.d.aiRouter.route({ model: o.model, tier: this.d.modelCatalog.tierOf(principal),
      type: 'embedding' });
    const model = plan.model;
    const provider = this.providerName(model, o.userKey);
    const count = this.counter(model);
    const input = o.input.reduce((n, t) => n + count(t), 0);
    const headers = enforce(await this.d.limits.check(userId, { tokens: input }));
    const amount = o.userKey ? 0 : this.d.modelCatalog.costMicros(model, { input: withMargin(input, this.settings),
      output: 0 });
    const hold = amount > 0 ? await this.d.ledger.hold(userId, amount, { idempotencyKey: `ai:${this.d.ids.next()}`,
      reference: `${o.reference.kind}:${o.reference.id}`.slice(0, 200), ttlSeconds: this.settings.holdTtlSeconds })
      : undefined;
    const em = o.em ?? this.d.orm.em.fork();
    try {
      const res = await this.d.aiProvider.get(provider).embed({ model: model.vendorModel, input: o.input },
        { apiKey: o.userKey?.apiKey });
      const tokens = res.usage.inputTokens || input;
      const event = (costMicros: number) => ({ userId, kind: 'embedding', subject: model.id, tokensIn: tokens,
        tokensOut: 0, costMicros,
        reference: `${o.reference.kind}:${o.reference.id} price:${this.priceOf(model)}`.slice(0, 200) });
      const cost = this.d.modelCatalog.costMicros(model, { input: tokens, output: 0 });
      // Charged: the usage row goes in the capture's transaction; not charged: staged in the caller's unit of work.
      let costMicros = 0;
      if (hold && cost > 0) costMicros = await this.capture(hold, cost, event);
      else {
        if (hold) await this.d.ledger.release(hold.id);
        this.d.metering.record(em, event(0));
      }
      if (!o.em) await em.flush();
      return { model: model.id, vectors: res.vectors, headers,
        usage: usageOf(tokens, 0, costMicros, res.usage.estimated) };
    } catch (err) {
      if (hold) await this.d.ledger.release(hold.id).catch((e) => this.lost(e));
      throw err;
    }
  }

  // ------------------------------------------------------------------------------------------- before the call

  private async prepare(call: GatewayChatCall): Promise<Prepared> {
    const started = this.d.clock.now();
    const userId = userOf(call.principal);
    if (!call.messages.length) throw errors.validation([{ field: 'messages', message: 'must not be empty' }]);
    const saved = call.preference === undefined || call.moderation === undefined
      ? await this.d.aiSettings.get(userId) : undefined;
    const level = strictness(this.d.aiConfig.moderation.floor, saved?.moderation as Strictness | null,
      call.moderation);
    const policy = policyFor(level, this.d.aiConfig.moderation);
    const prompt = lastUserText(call.messages);
    const warnings: string[] = [];
    const inputFlags = await this.moderateInput(userId, prompt, policy, call);
    if (inputFlags.length) warnings.push(flagWarning(inputFlags, 'input'));

    const tier = this.d.modelCatalog.tierOf(call.principal);
    const plan = await this.d.aiRouter.route({ model: call.model, preference: call.preference ??
      saved?.preferredModel ?? undefined, context: call.context, task: call.task, text: prompt, tier, type: 'text' });
    const models = await this.entitled(userId, this.servedBy(plan.candidates, call));
    const first = models[0];
    const inputTokens = conversationTokens(call.messages, this.counter(first));
    const input = withMargin(inputTokens, this.settings);
    const min = this.settings.minCompletionTokens;
    const billed = !call.userKey;
    const wanted = requestedOutput(first, call.maxTokens, this.settings);
    // The plan's token limits bound max_tokens too (gatewayBudget.ts), before the balance does.
    const limited = await limitBound(this.d.limits, userId, { input, wanted, floor: Math.min(wanted, min),
      costMicros: billed ? this.d.modelCatalog.costMicros(first, { input, output: min }) : undefined });
    const headers = enforce(limited.decision);
    if (limited.boundBy) warnings.push(`max_tokens bounded to ${limited.output} by your plan's ${limited.boundBy}`);
    const bounded = limited.boundBy ? { ...call, maxTokens: limited.output } : call;
    const hold = billed ? await this.holdFor(userId, first, input, bounded, warnings) : undefined;
    const candidates = fundedCandidates(this.d.modelCatalog, models, input, hold?.amountMicros, bounded.maxTokens,
      this.settings);
    if (!candidates.length || candidates[0].model !== first) {
      if (hold) await this.d.ledger.release(hold.id);
      throw new AppError(402, 'INSUFFICIENT_CREDITS', 'Your credit balance does not cover this operation');
    }
    return { id: this.d.ids.next(), call, userId, plan, candidates, inputTokens, hold, headers, warnings, inputFlags,
      prompt, policy, started, em: call.em, ownEm: false };
  }

  private async moderateInput(userId: string, prompt: string, policy: ReturnType<typeof policyFor>,
    call: GatewayChatCall) {
    const check = policy.blockAt || policy.flagAt ? checkerOf(this.d.aiProvider) : undefined;
    if (!check || !prompt) return [];
    const verdict = judgeInput(await check(prompt), policy);
    if (verdict.blocked) {
      // Queued now, on its own: the request fails, so there is no caller's write to go with.
      const em = this.d.orm.em.fork();
      stageQueueItem(em, { userId, direction: 'input', action: 'blocked', hits: verdict.blocked, text: prompt,
        reference: call.reference });
      await em.flush();
      throw blockedError(verdict.blocked);
    }
    return verdict.flags;
  }

  /** With the user's own key, only the models that key's provider serves. */
  private servedBy(models: AiModel[], call: GatewayChatCall): AiModel[] {
    if (!call.userKey) return models;
    const served = models.filter((m) => this.d.modelCatalog.providerFor(m) === call.userKey!.provider);
    if (!served.length) {
      throw new AppError(400, 'MODEL_NOT_SERVED_BY_KEY', `No candidate model is served by ${call.userKey.provider}`, {
        details: { provider: call.userKey.provider, models: models.map((m) => m.id) } });
    }
    return served;
  }

  /** Premium models need the plan's feature too (the tier said yes; the plan has the last word). */
  private async entitled(userId: string, models: AiModel[]): Promise<AiModel[]> {
    if (!models.some((m) => m.premium)) return models;
    const feature = this.settings.premiumFeature;
    const ok = await this.d.entitlements.check(userId, feature);
    if (ok.ok) return models;
    if (models[0].premium) {
      throw new AppError(403, 'MODEL_NOT_AVAILABLE', `Model "${models[0].id}" needs a plan with ${feature}`, {
        details: { model: models[0].id, plans: ok.plans, alternatives: models.filter((m) => !m.premium)
          .map((m) => m.id) } });
    }
    return models.filter((m) => !m.premium);
  }

  /**
   * The hold for the first model: its input estimate plus the output asked for. When the ledger refuses (402), the
   * balance is read and the output bounded to what it pays, and the hold asked again (twice at most: a concurrent
   * call may take the balance in between); when it cannot pay the minimal answer, the ledger's 402 stands. The
   * common case (the balance covers the ask) costs one ledger call, no balance read.
   */
  private async holdFor(userId: string, model: AiModel, input: number, call: GatewayChatCall, warnings: string[]):
    Promise<Hold | undefined> {
    const wanted = requestedOutput(model, call.maxTokens, this.settings);
    const floor = Math.min(wanted, this.settings.minCompletionTokens);
    const idempotencyKey = `ai:${call.idempotencyKey ?? this.d.ids.next()}`.slice(0, 190);
    const reference = `${call.reference.kind}:${call.reference.id}`.slice(0, 200);
    let output = wanted;
    for (let attempt = 0; ; attempt++) {
      const amount = this.d.modelCatalog.costMicros(model, { input, output });
      if (amount === 0) return undefined;
      try {
        const hold = await this.d.ledger.hold(userId, amount, { idempotencyKey, reference,
          ttlSeconds: this.settings.holdTtlSeconds });
        if (output < wanted) warnings.push(`max_tokens bounded to ${output} by your credit balance`);
        return hold;
      } catch (err) {
        if (attempt === 2 || !isAppError(err) || err.status !== 402) throw err;
        const balance = (await this.d.ledger.balance(userId)).balanceMicros;
        const paid = affordableOutput(this.d.modelCatalog, model, input, Math.max(0, balance), wanted);
        if (paid < floor) throw err;
        output = paid;
      }
    }
  }

  // ------------------------------------------------------------------------------------------- after the call

  /** Capture (or release), queue the flags, stage the one usage event; flush when the em is the gateway's. */
  private async settle(p: Prepared, progress: Progress, outcome: Outcome, err?: unknown): Promise<GatewayChatResult> {
    progress.settling = true; // once: a settlement that fails is not retried (no second capture or usage event)
    const model = progress.model ?? p.candidates[0].model;
    const count = this.counter(model);
    const reached = progress.model !== undefined || progress.raw.length > 0;
    const partialUsage = isAiError(err) ? err.partial?.usage : undefined;
    const usage = progress.usage ?? partialUsage ?? {
      inputTokens: reached ? p.inputTokens : 0,
      outputTokens: progress.raw ? count(progress.raw) : 0,
      estimated: true,
    };
    const cost = this.d.modelCatalog.costMicros(model, { input: usage.inputTokens, output: usage.outputTokens });
    const { userId, call } = p;
    const em = () => this.stagingEm(p);
    const event = (costMicros: number) => ({
      userId, kind: 'chat', subject: model.id, tokensIn: usage.inputTokens, tokensOut: usage.outputTokens, costMicros,
      reference: referenceOf(call, this.priceOf(model)), status: outcome === 'ok' ? 'ok' as const : 'failed' as const,
    });
    let costMicros = 0;
    if (p.hold && cost > 0 && (reached || usage.outputTokens > 0)) {
      // The charge and its usage row are one transaction: a crash between them cannot leave one without the other.
      costMicros = await this.capture(p.hold, cost, (charged) => event(charged));
    } else {
      if (p.hold) await this.d.ledger.release(p.hold.id);
      this.d.metering.record(em(), event(0));
    }
    if (p.inputFlags.length) {
      stageQueueItem(em(), { userId, direction: 'input', action: 'flagged', hits: p.inputFlags, text: p.prompt,
        reference: call.reference });
    }
    if (progress.outputHits.length) {
      stageQueueItem(em(), { userId, direction: 'output', action: progress.stopped ? 'stopped' : 'redacted',
        hits: progress.outputHits, text: progress.raw, reference: call.reference });
    }
    if (p.ownEm && p.em!.getUnitOfWork().getPersistStack().size) await p.em!.flush();
    const warnings = [...p.warnings];
    if (progress.outputHits.length) warnings.push(flagWarning(progress.outputHits, 'output'));
    const now = this.d.clock.now();
    return {
      id: p.id, model: model.id, text: progress.sent,
      finishReason: outcome === 'ok' ? progress.finishReason ?? 'stop' : 'error',
      usage: usageOf(usage.inputTokens, usage.outputTokens, costMicros, usage.estimated),
      ttftMs: progress.ttftMs ?? now - p.started, totalMs: now - p.started, attempts: progress.attempts,
      flags: [...p.inputFlags, ...progress.outputHits], warnings, headers: p.headers,
      maxTokens: p.candidates.find((c) => c.model.id === model.id)?.maxTokens,
      flagged: { input: p.inputFlags.length > 0, output: progress.outputHits.length > 0 },
    };
  }

  /** Where uncharged usage and review-queue rows are staged: the caller's unit of work, else one of the gateway's. */
  private stagingEm(p: Prepared): EntityManager {
    if (!p.em) {
      p.em = this.d.orm.em.fork();
      p.ownEm = true;
    }
    return p.em;
  }

  /**
   * The charge actually made (capped at the hold by the ledger: never more than was held). `usage` is the usage
   * row for the charged amount, written inside the capture's transaction (metering's plain INSERT on the
   * transaction's connection; staged and flushed in it where metering has no `insert`).
   */
  private async capture(hold: Hold, micros: number, usage?: (charged: number) => UsageEvent): Promise<number> {
    const metering = this.d.metering;
    const write = usage && (metering.insert
      ? { sql: (db: SqlTarget, e: LedgerEntryDetail) => metering.insert!(db, usage(-e.amountMicros)) }
      : { within: async (em: EntityManager, e: LedgerEntryDetail) => {
        metering.record(em, usage(-e.amountMicros));
        await em.flush();
      } });
    try {
      const entry = await this.d.ledger.capture(hold.id, micros, { userId: hold.userId, ...write });
      return -entry.amountMicros;
    } catch (err) {
      // Rolled back, nothing charged: the hold goes now rather than at its expiry.
      await this.d.ledger.release(hold.id).catch((e) => this.lost(e));
      throw err;
    }
  }

  // ------------------------------------------------------------------------------------------- helpers

  /** The plan with the funded candidates (`task` stays lazy: an explicit model is never classified). */
  private planOf(p: Prepared): RoutePlan {
    const plan = p.plan;
    return { model: p.candidates[0].model, reason: plan.reason, candidates: p.candidates.map((c: Candidate) => c.model),
      get task() { return plan.task; } };
  }

  private request(call: GatewayChatCall, model: AiModel, maxTokens: number): ChatRequest {
    return { model: model.vendorModel, messages: call.messages, maxTokens, temperature: call.temperature,
      topP: call.topP, stop: call.stop };
  }

  private outputModerator(p: Prepared): StreamModerator | undefined {
    const check = p.policy.output ? checkerOf(this.d.aiProvider) : undefined;
    if (!check || !p.policy.output) return undefined;
    return createStreamModerator({ check, action: p.policy.output.action, floor: p.policy.output.floor,
      redaction: this.d.aiConfig.moderation.redaction, minReleaseChars: this.d.aiConfig.moderation.batchChars });
  }

  private providerName(model: AiModel, userKey?: { provider: string }): string {
    if (userKey && !this.d.aiProvider.has(userKey.provider)) {
      throw new AppError(400, 'AI_PROVIDER_NOT_CONFIGURED', `No provider "${userKey.provider}" here`, {
        details: { provider: userKey.provider, providers: this.d.aiProvider.names() } });
    }
    const name = userKey?.provider ?? this.d.modelCatalog.providerFor(model);
    if (!name || !this.d.aiProvider.has(name)) {
      throw new AppError(503, 'AI_UNAVAILABLE', `No provider serves ${model.id} here`, {
        headers: { 'Retry-After': '30' }, details: { retry_after: 30 } });
    }
    return name;
  }

  private counter(model: AiModel): (text: string) => number {
    const name = this.d.modelCatalog.providerFor(model);
    const provider = name && this.d.aiProvider.has(name) ? this.d.aiProvider.get(name) : undefined;
    if (!provider) return (t) => Math.ceil(t.length / 4);
    const key = `${name}/${model.vendorModel}`;
    return (t) => this.counts.count(key, t, (text) => provider.countTokens(text, model.vendorModel));
  }

  private priceOf(model: AiModel): string {
    return priceVersion(model, this.d.aiConfig.markupPercent);
  }


  /** A settlement that failed after the answer: logged without the payload (no text, no key). */
  private lost(e: unknown): void {
    const code = isAppError(e) ? e.code : (e as Error)?.name;
    this.d.logger.error({ code }, 'ai gateway: settling a call failed');
  }
}

function userOf(principal: Principal | undefined): string {
  if (!principal?.id) throw errors.unauthorized();
  return principal.id;
}

function usageOf(input: number, output: number, costMicros: number, estimated: boolean): GatewayUsage {
  return { promptTokens: input, completionTokens: output, totalTokens: input + output,
    costCents: costMicros / MICROS_PER_CENT, costMicros, estimated };
}

function describe(err: unknown, outcome: Outcome): { code: string; message: string; status: number } {
  if (outcome === 'aborted') return { code: 'AI_ABORTED', message: 'The call was cancelled', status: 499 };
  if (isAppError(err)) return { code: err.code, message: err.message, status: err.status };
  return { code: 'AI_ERROR', message: 'The AI call failed', status: 502 };
}

const isAppError = (e: unknown): e is AppError => e instanceof AppError;
