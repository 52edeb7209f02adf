import { v7 } from 'uuid';
import { errors, type Clock } from '../../kernel/index.ts';

/**
 * The one cursor of both transports: a UUIDv7 (lower-case), or `0` for "before everything".
 * Made from the kernel clock, monotonic within an instance (several in one millisecond count up).
 */
const CURSOR = /^(0|[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$/;

export const isCursor = (value: unknown): value is string => typeof value === 'string' && CURSOR.test(value);

export function checkCursor(value: unknown, field: string): string {
  if (!isCursor(value)) {
    throw errors.validation([{ field, message: 'must be a cursor (an event id, or 0 for the whole history)',
      code: 'format' }]);
  }
  return value;
}

/** Milliseconds since the epoch in a cursor (0 for `0`). */
export const cursorTime = (cursor: string): number =>
  cursor === '0' ? 0 : parseInt(cursor.slice(0, 8) + cursor.slice(9, 13), 16);

/** The smallest cursor of millisecond `ms`: everything before it is older. */
export function cursorAt(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-000000000000`;
}

export function cursorMaker(clock: Clock): () => string {
  let lastMs = -1;
  let seq = 0;
  return () => {
    let ms = clock.now();
    if (ms <= lastMs) {
      ms = lastMs;
      seq++;
    } else {
      lastMs = ms;
      seq = Math.floor(Math.random() * 2 ** 28); // room to count up within the millisecond
    }
    return v7({ msecs: ms, seq });
  };
}
