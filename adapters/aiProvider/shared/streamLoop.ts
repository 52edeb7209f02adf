/** One loop for every vendor's SSE chat stream: deltas out, usage at the end, and a cut always a typed error. */
import type { ChatStreamEvent, FinishReason, Usage } from '../../../kernel/ports/aiProvider.ts';
import type { OpenStream } from './http.ts';
import { parseSse, type SseEvent } from './sse.ts';

export interface StreamStep {
  delta?: string;
  inputTokens?: number;
  outputTokens?: number;
  finish?: FinishReason;
  model?: string;
  id?: string;
  /** The vendor's end marker (`[DONE]`, `message_stop`). */
  end?: boolean;
  /** A vendor error sent inside the stream. */
  error?: Error;
}

export interface StreamSpec {
  parse: (event: SseEvent) => StreamStep | undefined;
  /** Whether the vendor sends an end marker; without one a finish reason ends the stream. */
  endMarker: boolean;
  /** Local counts, used for whatever the vendor did not report. */
  estimateInput: () => number;
  estimateOutput: (text: string) => number;
  model: string;
}

/**
 * `opening` may be the call that opens the stream: it runs at the first `next()` (as the stream's own generator
 * would), without a generator of the adapter's around this one, which would cost a hop per event.
 */
export async function* sseChat(opening: OpenStream | (() => Promise<OpenStream>), spec: StreamSpec):
  AsyncGenerator<ChatStreamEvent> {
  const open = typeof opening === 'function' ? await opening() : opening;
  let text = '';
  let input: number | undefined;
  let output: number | undefined;
  let finish: FinishReason | undefined;
  let model = spec.model;
  let id: string | undefined;
  let ended = false;
  const usage = (): Usage => ({
    inputTokens: input ?? spec.estimateInput(),
    outputTokens: output ?? spec.estimateOutput(text),
    estimated: input === undefined || output === undefined,
  });
  try {
    for await (const event of parseSse(open.body)) {
      const step = spec.parse(event);
      if (!step) continue;
      if (step.error) throw step.error;
      if (step.inputTokens !== undefined) input = step.inputTokens;
      if (step.outputTokens !== undefined) output = step.outputTokens;
      if (step.finish) finish = step.finish;
      if (step.model) model = step.model;
      if (step.id) id = step.id;
      if (step.delta) {
        text += step.delta;
        open.started();
        yield { type: 'delta', text: step.delta };
      }
      if (step.end) {
        ended = true;
        open.release(); // what follows the end marker is drained: the connection serves the next call
        break;
      }
    }
    if (!ended && (spec.endMarker || finish === undefined)) throw new Error('the stream ended before its end marker');
  } catch (err) {
    throw open.fail(err, { text, usage: usage() });
  } finally {
    open.close();
  }
  yield { type: 'done', finishReason: finish ?? 'stop', usage: usage(), model, ...(id ? { id } : {}) };
}
