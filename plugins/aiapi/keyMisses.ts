/**
 * Which users have no default key for a vendor, remembered for `ttlMs` (5 s): a completion that names no
 * `credential_id` (nearly all of them) then reads no credential row. Only an absence is remembered, so a deleted
 * key can never be used from here. A key made default on this instance is seen at once (`drop`, after its commit);
 * on another instance within the TTL: until then that instance charges the user's calls to that vendor as if they
 * had no key (the deployment's key, billed), which is what they got before adding it. Bounded: oldest first.
 */
import type { Clock } from '../../kernel/index.ts';

export class DefaultKeyMisses {
  /** By user: vendor -> when its absence was read. */
  private users = new Map<string, Map<string, number>>();
  /** Bumped by every `drop`: a read that began before one does not remember its absence. */
  private epoch = 0;

  constructor(private clock: Clock, private ttlMs = 5000, private maxUsers = 10_000) {}

  /** True when `userId` is known to have no default key for `vendor`. */
  has(userId: string, vendor: string): boolean {
    const at = this.users.get(userId)?.get(vendor);
    return at !== undefined && this.clock.now() - at < this.ttlMs;
  }

  /** Taken before the read whose absence `add` then remembers. */
  mark(): number {
    return this.epoch;
  }

  add(userId: string, vendor: string, mark: number): void {
    if (mark !== this.epoch) return;
    let vendors = this.users.get(userId);
    if (!vendors) {
      this.users.set(userId, (vendors = new Map()));
      if (this.users.size > this.maxUsers) this.users.delete(this.users.keys().next().value!);
    }
    vendors.set(vendor, this.clock.now());
  }

  /** After a change of the user's keys has committed. */
  drop(userId: string): void {
    this.epoch++;
    this.users.delete(userId);
  }
}
