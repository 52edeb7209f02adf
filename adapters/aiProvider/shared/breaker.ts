/**
 * A circuit breaker per provider: after `failures` retryable failures in a row the provider is cooled down for
 * `cooldownMs` (a 429 cools it down for at least its Retry-After), then half-open: one trial call; its success
 * closes the circuit, its failure opens it again. Only retryable kinds count: a bad request is the caller's fault.
 */
import type { Clock } from '../../../kernel/ports/clock.ts';
import { isAiError, type CircuitState, type ProviderCircuit } from '../../../kernel/ports/aiProvider.ts';

export interface BreakerOptions {
  failures?: number;
  cooldownMs?: number;
}


export class Breaker {
  private consecutive = 0;
  private openUntil = 0;
  private trialInFlight = false;
  private readonly failures: number;
  private readonly cooldownMs: number;

  constructor(readonly name: string, private clock: Clock, o: BreakerOptions = {}) {
    this.failures = o.failures ?? 3;
    this.cooldownMs = o.cooldownMs ?? 30_000;
  }

  state(): CircuitState {
    if (this.openUntil === 0) return 'closed';
    return this.clock.now() < this.openUntil ? 'open' : 'half_open';
  }

  /** Whether a call may go out now (in half-open, one at a time). */
  allows(): boolean {
    const s = this.state();
    if (s === 'closed') return true;
    if (s === 'open') return false;
    return !this.trialInFlight;
  }

  begin(): void {
    if (this.state() === 'half_open') this.trialInFlight = true;
  }

  success(): void {
    this.consecutive = 0;
    this.openUntil = 0;
    this.trialInFlight = false;
  }

  failure(err: unknown): void {
    this.trialInFlight = false;
    if (!isAiError(err) || !(err.retryable || err.kind === 'interrupted')) return;
    this.consecutive++;
    const halfOpen = this.openUntil !== 0;
    const wait = err.kind === 'rate_limited' && err.retryAfterMs !== undefined ? err.retryAfterMs : 0;
    if (halfOpen || this.consecutive >= this.failures || wait > 0) {
      const cooldown = halfOpen || this.consecutive >= this.failures ? this.cooldownMs : 0;
      this.openUntil = this.clock.now() + Math.max(wait, cooldown);
    }
  }

  /** The caller gave up (aborted): neither a success nor a failure. */
  settle(): void {
    this.trialInFlight = false;
  }

  health(): ProviderCircuit {
    const state = this.state();
    return {
      name: this.name, state, consecutiveFailures: this.consecutive,
      ...(state === 'open' ? { retryAt: new Date(this.openUntil).toISOString() } : {}),
    };
  }
}
