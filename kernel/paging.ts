import { errors } from './errors.ts';

/** Keyset cursors: opaque, URL-safe, and rejected with a 400 when tampered with. */
export function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined, check: (value: string) => boolean = () => true): string | undefined {
  if (cursor === undefined) return undefined;
  const value = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!check(value)) throw errors.validation([{ field: 'query.cursor', message: 'is not a cursor this API issued', code: 'cursor' }]);
  return value;
}
