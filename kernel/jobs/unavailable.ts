import { AppError } from '../errors.ts';
import type { Jobs } from './types.ts';

/**
 * The `jobs` service of a deployment whose job queue cannot run (the database adapter on MongoDB):
 * plugins that use jobs still boot, and a call that needs the queue answers 503 naming why.
 */
export function unavailableJobs(reason: string): Jobs {
  const refuse = async (): Promise<never> => {
    throw new AppError(503, 'JOBS_UNAVAILABLE', `Background jobs are off in this deployment: ${reason}`, {
      headers: { 'Retry-After': '3600' },
    });
  };
  return { enqueue: refuse, answer: refuse, types: () => [], watch: () => () => {}, notify: () => {}, wake: () => {} };
}
