import type { Migration } from '../../kernel/index.ts';
import { generated } from './migrations/index.ts';

export const migrations: Migration[] = [...generated];
