import type { Test } from 'uvu';

/**
 * uvu treats a thrown error's `details` as a string; an error with object details makes its
 * reporter throw, and the suite is then counted as passing. Rethrow such errors as plain ones.
 */
export function guarded(test: Test): Test {
  const wrapped = ((name: string, fn: () => unknown) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof Error && 'details' in err && typeof err.details !== 'string') {
          throw new Error(`${err.name}: ${err.message}`, { cause: err });
        }
        throw err;
      }
    })) as Test;
  return Object.assign(wrapped, test);
}
