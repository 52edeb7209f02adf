import type { Principal } from '../plugin.ts';

/**
 * Checks an authenticator hands to the kernel instead of awaiting them itself (a revocation
 * lookup in the cache): the kernel runs them alongside the rate limiter's call, so a request
 * on Redis waits one round trip for both, and refuses the request when one rejects.
 */
const pending = new WeakMap<Principal, Promise<void>>();

/** Attaches `check` to `principal` (a fresh object per request) and returns the principal. */
export function deferCheck<P extends Principal>(principal: P, check: Promise<unknown>): P {
  // Kept as given: its value is never read (every taker only awaits it), so no `.then` to make it void.
  check.catch(ignore); // awaited by the route; this only keeps an early rejection from being reported as unhandled
  pending.set(principal, check as Promise<void>);
  return principal;
}

function ignore(): void {}

/** The principal's deferred check, if any, once: the caller must await it. */
export function takeDeferredCheck(principal: Principal | undefined): Promise<void> | undefined {
  if (!principal) return undefined;
  const check = pending.get(principal);
  if (check) pending.delete(principal);
  return check;
}

/** Awaits the principal's deferred check (if any) without taking it: for a refusal that must not hide a 401. */
export async function awaitDeferredCheck(principal: Principal): Promise<void> {
  await pending.get(principal);
}
