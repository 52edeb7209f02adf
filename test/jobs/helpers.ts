/** Polls `check` until it gives a value (not undefined), or fails after `deadlineMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 3000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
