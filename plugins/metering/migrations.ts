import type { Migration } from '../../kernel/index.ts';
import { generated } from './migrations/index.ts';

/** Metering's schema, generated from entities.ts by `migrate create` (migrations/). */
export const migrations: Migration[] = [...generated];
