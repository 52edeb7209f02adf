/** A unique index refused the insert (MikroORM wraps the driver's error; the name survives). */
export function isUniqueViolation(err: unknown, depth = 0): boolean {
  const e = err as { name?: string; cause?: unknown } | undefined;
  if (!e || depth > 3) return false;
  return e.name === 'UniqueConstraintViolationException' || isUniqueViolation(e.cause, depth + 1);
}
