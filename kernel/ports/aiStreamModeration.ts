/**
 * Output moderation on a stream without buffering it: each delta is checked together with the tail of what was
 * already sent (a sliding window), and a short tail of the delta is held back until the next chunk, so a term
 * split across two chunks is seen whole before any of it goes out. Works with any checker, local or vendor.
 */
import { severityAtLeast, type ModerationHit, type ModerationResult, type Severity } from './aiProvider.ts';

export interface StreamModeratorOptions {
  check: (text: string) => ModerationResult | Promise<ModerationResult>;
  /** `redact` replaces the matched span; `stop` ends the stream (finish_reason content_filter). */
  action: 'redact' | 'stop';
  /** Hits at or above this act (default MEDIUM). */
  floor?: Severity;
  /** Characters of already-sent text re-checked with each chunk (default 200). */
  windowChars?: number;
  /** Characters held back at each chunk boundary (default 48: longer than the longest lexicon phrase). */
  holdChars?: number;
  redaction?: string;
  /**
   * Check (and release) only once this many characters beyond the hold-back are pending (default 0: at every
   * chunk). A vendor's deltas are a few characters each: batching them cuts the checks several times over, for
   * at most this many characters of extra delay.
   */
  minReleaseChars?: number;
}

export interface StreamModerationStep {
  /** Safe to send now (possibly empty). */
  text: string;
  /** True once the stream must stop: send nothing more and finish with content_filter. */
  stopped: boolean;
  /** Hits that acted on this step. */
  hits: ModerationHit[];
}

export interface StreamModerator {
  push(delta: string): Promise<StreamModerationStep>;
  /** Releases what is held back: checked first when a batched push left it unchecked (it may stop there). */
  end(): Promise<StreamModerationStep>;
  /** Every hit that acted so far (for the review queue). */
  readonly flagged: ModerationHit[];
}

export function createStreamModerator(o: StreamModeratorOptions): StreamModerator {
  const floor = o.floor ?? 'MEDIUM';
  const windowChars = o.windowChars ?? 200;
  const holdChars = o.holdChars ?? 48;
  const redaction = o.redaction ?? '[redacted]';
  const minRelease = o.minReleaseChars ?? 0;
  let sentTail = '';
  let pending = '';
  let stopped = false;
  let unchecked = false;
  const flagged: ModerationHit[] = [];

  const release = (upTo: number): string => {
    const out = pending.slice(0, upTo);
    pending = pending.slice(upTo);
    sentTail = (sentTail + out).slice(-windowChars);
    return out;
  };

  /** Checks the window and acts on pending text: redacts in place, or stops. Returns the hits that acted. */
  const examine = async (): Promise<ModerationHit[]> => {
    unchecked = false;
    const offset = sentTail.length;
    const result = await o.check(sentTail + pending);
    // Hits wholly inside text already sent were acted on (or let through) at an earlier step.
    const acting = result.hits.filter((h) => severityAtLeast(h.severity, floor) && (h.end ?? Infinity) > offset);
    if (!acting.length) return acting;
    flagged.push(...acting);
    if (o.action === 'stop' || acting.some((h) => h.start === undefined)) {
      stopped = true;
      pending = '';
      return acting;
    }
    const spans = acting
      .map((h) => [Math.max(h.start!, offset) - offset, h.end! - offset] as const)
      .sort((a, b) => b[0] - a[0]);
    let cutFrom = Infinity;
    for (const [start, end] of spans) {
      if (end > cutFrom) continue; // overlaps a span already replaced
      pending = pending.slice(0, start) + redaction + pending.slice(end);
      cutFrom = start;
    }
    return acting;
  };

  return {
    flagged,
    async push(delta) {
      if (stopped) return { text: '', stopped, hits: [] };
      pending += delta;
      if (minRelease > 0 && pending.length < holdChars + minRelease) {
        unchecked = true;
        return { text: '', stopped, hits: [] };
      }
      const acting = await examine();
      if (stopped) return { text: '', stopped, hits: acting };
      let upTo = Math.max(0, pending.length - holdChars);
      // Cut at a word boundary so the held part starts a word.
      const space = pending.lastIndexOf(' ', upTo);
      if (upTo > 0 && space > 0) upTo = space;
      return { text: release(upTo), stopped, hits: acting };
    },
    async end() {
      if (stopped) return { text: '', stopped, hits: [] };
      // What a batched push left unchecked is checked before it goes.
      const acting = unchecked ? await examine() : [];
      if (stopped) return { text: '', stopped, hits: acting };
      return { text: release(pending.length), stopped, hits: acting };
    },
  };
}
