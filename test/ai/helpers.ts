/** Helpers of the ai tests: plans that grant nothing, a fast local provider, SSE reading, credits. */
import * as assert from 'uvu/assert';
import type { SignedInClient, TestKit } from '../kit/index.ts';
import { waitFor } from '../jobs/helpers.ts';
import { billingOf, CENT } from '../billing/helpers.ts';

/** Plans with no free credits and no token limits: each test grants exactly what it means to spend. */
export const GATEWAY_PLANS = [
  { id: 'free', name: 'Free', priceCents: 0, interval: 'month', monthlyFreeCreditsCents: 0, features: [],
    limits: {} },
  { id: 'premium', name: 'Premium', priceCents: 999, interval: 'month', monthlyFreeCreditsCents: 0,
    features: ['premium-models'], limits: {} },
  { id: 'limited', name: 'Limited', priceCents: 0, interval: 'month', monthlyFreeCreditsCents: 0, features: [],
    visibility: 'hidden', limits: { tokensPerDay: 400 } },
];
export const LOCAL_FAST = { aiProvider: { use: 'local', pacing: { firstTokenMs: 0, perTokenMs: 0 } } };

export async function grant(k: TestKit, userId: string, micros: number): Promise<void> {
  await billingOf(k).ledger.grant(userId, micros, { idempotencyKey: `grant-${userId}-${micros}-${Math.random()}` });
}
export const cents = (n: number) => n * CENT;
export const balanceOf = async (k: TestKit, userId: string) =>
  (await billingOf(k).ledger.balance(userId)).balanceMicros;

export type SseEvent = { type: string; [key: string]: any };

/** POSTs and reads a text/event-stream to its end: the status, and the JSON of each `data:` line. */
export async function sse(k: TestKit, path: string, body: unknown, authorization: string,
  o: { signal?: AbortSignal; onEvent?: (e: SseEvent, all: SseEvent[]) => void } = {}):
  Promise<{ status: number; contentType: string; events: SseEvent[]; json?: any }> {
  const res = await fetch(`${k.url}${k.basePath}${path}`, {
    method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body),
    signal: o.signal,
  });
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/event-stream')) {
    return { status: res.status, contentType, events: [], json: await res.json() };
  }
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of frame.split('\n')) {
          if (!line.startsWith('data: ')) continue;
          const event = JSON.parse(line.slice(6)) as SseEvent;
          events.push(event);
          o.onEvent?.(event, events);
        }
      }
    }
  } catch (e) {
    if (!o.signal?.aborted) throw e;
  }
  return { status: res.status, contentType, events };
}

export const ends = (events: SseEvent[]) => events.filter((e) => e.type === 'done' || e.type === 'error');
export const text = (events: SseEvent[]) => events.filter((e) => e.type === 'chunk').map((e) => e.content).join('');

/** An `ai.generate.*` job as `GET /v1/jobs/{id}` answers it. */
export type GeneratedJob = { status: string; result: Record<string, any>;
  error: { code: string; message: string } | null; attempts: number; progress: number };
/** Starts a job through the API (201 asserted) and gives its id. */
export const startJob = async (user: SignedInClient, type: string, parameters: unknown) => {
  const made = await user.post('/v1/jobs', { type, parameters });
  assert.is(made.status, 201, made.text);
  return made.body.id as string;
};
/** The job once it has completed or failed. */
export const jobFinished = (user: SignedInClient, id: string) => waitFor(`job ${id}`, async () => {
  const r = await user.get(`/v1/jobs/${id}`);
  return ['completed', 'failed'].includes(r.body.status) ? (r.body as GeneratedJob) : undefined;
}, 20_000);
