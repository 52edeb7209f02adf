import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { AppError, reply, type Clock, type Egress, type EgressResponse } from '../../kernel/index.ts';
import { enforce, entitlementError, type MeteringExports } from '../metering/api.ts';
import type { ToolCatalog } from './catalog.ts';
import type { ToolInvocationRow, ToolRow } from './entities.ts';
import { estimateTokens, reportedTokens } from './tokens.ts';

export interface InvocationResult {
  invocationId: string; toolId: string; output: unknown; tokensUsed: number; tokensSource: 'reported' | 'estimated';
}
type Outcome = {
  status: 'ok' | 'tool_error' | 'unavailable'; httpStatus: number | null; tokens: number;
  source?: 'reported' | 'estimated';
};

const RETRY_AFTER_SECONDS = 30;
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

/**
 * One invocation: the plan must include the tool's feature and have room under its limits (both
 * checked on entry, so a subscription that lapses mid-call lets this call finish); the call goes
 * through the egress client; the invocation row and the usage record are written in one flush,
 * failures included, before the answer is sent.
 */
export class ToolInvoker {
  constructor(
    private deps: Pick<MeteringExports, 'metering' | 'limits' | 'entitlements'> & {
      em: EntityManager; catalog: ToolCatalog; egress: Egress; clock: Clock; log: Logger;
    },
  ) {}

  async invoke(userId: string, toolId: string, input: unknown) {
    const { catalog, entitlements, limits } = this.deps;
    const tool = await catalog.read(toolId);
    const entitled = await entitlements.check(userId, tool.feature);
    if (!entitled.ok) throw entitlementError(tool.feature, entitled.plans);
    const inputTokens = await estimateTokens(input);
    // 402 over a limit; at 80%, or over it in a grace period (premium), flagged in X-Usage-Warning.
    const usageHeaders = enforce(await limits.check(userId, { tokens: inputTokens }));

    const started = this.deps.clock.now();
    let res: EgressResponse;
    try {
      res = await this.call(tool, input);
    } catch (e) {
      await this.record(userId, tool, { status: 'unavailable', httpStatus: null, tokens: 0 }, started);
      this.deps.log.warn({ toolId: tool.id, code: (e as AppError).code }, 'tool endpoint unavailable');
      throw unavailable(tool);
    }
    if (res.status >= 500) {
      await this.record(userId, tool, { status: 'unavailable', httpStatus: res.status, tokens: 0 }, started);
      this.deps.log.warn({ toolId: tool.id, status: res.status }, 'tool endpoint failed');
      throw unavailable(tool);
    }
    const output = parse(res);
    if (res.status >= 400 || output === undefined) {
      await this.record(userId, tool, { status: 'tool_error', httpStatus: res.status, tokens: 0 }, started);
      throw new AppError(502, 'TOOL_ERROR', `${tool.name} did not accept the input`, {
        details: { status: res.status, ...(output === undefined ? { reason: 'the response is not JSON' } : {}) },
      });
    }
    const reported = reportedTokens(output, tool.tokensPath);
    const tokens = reported ?? inputTokens + await estimateTokens(output);
    const source = reported === undefined ? 'estimated' : 'reported';
    const row = await this.record(userId, tool, { status: 'ok', httpStatus: res.status, tokens, source }, started);
    const body: InvocationResult = {
      invocationId: row.id, toolId: tool.id, output, tokensUsed: tokens, tokensSource: source,
    };
    return Object.keys(usageHeaders).length ? reply(200, body, usageHeaders) : body;
  }

  private call(tool: ToolRow, input: unknown): Promise<EgressResponse> {
    const headers = { accept: 'application/json', ...this.deps.catalog.openHeaders(tool) };
    const timeouts = { headersMs: tool.timeoutMs, bodyMs: tool.timeoutMs };
    // undici's own header and body timers tick about once a second; the signal holds the whole call to the
    // tool's timeout exactly.
    const signal = AbortSignal.timeout(tool.timeoutMs);
    const common = {
      method: tool.method, headers, timeouts, retries: 0, maxResponseBytes: MAX_RESPONSE_BYTES, signal,
    };
    if (tool.method === 'GET') {
      const url = new URL(tool.endpointUrl);
      url.searchParams.set('input', typeof input === 'string' ? input : JSON.stringify(input));
      return this.deps.egress.request({ ...common, url });
    }
    return this.deps.egress.request({ ...common, url: tool.endpointUrl, json: { input } });
  }

  private async record(userId: string, tool: ToolRow, o: Outcome, started: number): Promise<ToolInvocationRow> {
    const { em, metering, clock } = this.deps;
    const at = clock.date();
    const row = em.create<ToolInvocationRow>('ToolInvocation', {
      userId, toolId: tool.id, tokensUsed: o.tokens, tokensSource: o.source ?? 'estimated',
      status: o.status, httpStatus: o.httpStatus, durationMs: Math.max(0, clock.now() - started), createdAt: at,
    } as ToolInvocationRow);
    metering.record(em, {
      userId, kind: 'tool', subject: tool.id, tokensIn: o.tokens, tokensOut: 0, costMicros: 0,
      reference: row.id, status: o.status === 'ok' ? 'ok' : 'failed', occurredAt: at,
    });
    await em.flush();
    return row;
  }
}

function parse(res: EgressResponse): unknown {
  try {
    return res.body.length ? res.json() : null;
  } catch {
    return undefined;
  }
}

function unavailable(tool: ToolRow): AppError {
  return new AppError(503, 'TOOL_UNAVAILABLE', `${tool.name} is unavailable; try again later`, {
    details: { toolId: tool.id, retryAfter: RETRY_AFTER_SECONDS },
    headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
  });
}
