/**
 * "A credential grants at most what its caller holds." Every grant point (API keys, OAuth
 * clients and consent, custom roles, role assignment, impersonation) asks this one question.
 */

/** The part of `wanted` that `held` does not cover. `*` covers everything, and only `*` covers `*`. */
export function beyondHeld(held: readonly string[], wanted: readonly string[]): string[] {
  if (held.includes('*')) return [];
  return [...new Set(wanted.filter((p) => !held.includes(p)))];
}

/** True when `held` covers every one of `wanted`. */
export function holdsAll(held: readonly string[], wanted: readonly string[]): boolean {
  return beyondHeld(held, wanted).length === 0;
}

/** The part of `wanted` that `held` covers, in `wanted`'s order (for grants that narrow instead of refusing). */
export function narrowTo(held: readonly string[], wanted: readonly string[]): string[] {
  return held.includes('*') ? [...wanted] : wanted.filter((p) => held.includes(p));
}
