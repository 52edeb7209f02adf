/** Time, injectable so that tests can move it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  date(): Date;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  date: () => new Date(),
};

/** A clock that only moves when told to. For tests. */
export class ManualClock implements Clock {
  constructor(private ms = Date.UTC(2026, 0, 1)) {}
  now() { return this.ms; }
  date() { return new Date(this.ms); }
  advance(ms: number) { this.ms += ms; }
  set(ms: number) { this.ms = ms; }
}
