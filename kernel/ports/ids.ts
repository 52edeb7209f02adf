import { v7 as uuidv7, validate, version } from 'uuid';

/** Id generation: UUIDv7 strings (time-sortable, safe to expose). */
export interface IdGenerator {
  next(): string;
}

export const uuidV7Ids: IdGenerator = { next: () => uuidv7() };

export function isUuidV7(id: string): boolean {
  return validate(id) && version(id) === 7;
}
