import type { JobLogEntry, JobRecord } from '../../kernel/index.ts';
import { PRIORITIES } from '../../kernel/ports/jobQueue.ts';
import type { JobLogView, JobView } from './api.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const NAMES = new Map<number, string>(Object.entries(PRIORITIES).map(([k, v]) => [v, k]));

/**
 * When a running job should finish, from its observed rate: the time spent so far over the
 * (stage-weighted) progress made, applied to what is left. Null until there is progress.
 */
export function estimatedCompletion(job: JobRecord, now: number): number | null {
  if (job.status === 'completed') return job.completedAt;
  if (job.status !== 'running' || job.startedAt === null || job.progress <= 0) return null;
  const elapsed = Math.max(0, now - job.startedAt);
  return Math.round(now + (elapsed * (100 - job.progress)) / job.progress);
}

export function toView(job: JobRecord, now: number): JobView {
  const d = job.decision;
  return {
    id: job.id, type: job.type, status: job.status, progress: job.progress, stage: job.stage,
    stageDescription: job.stageMessage, estimatedCompletion: iso(estimatedCompletion(job, now)),
    attempts: job.attempts, maxAttempts: job.maxAttempts, retryCount: job.retryCount,
    originalJobId: job.originalJobId, priority: NAMES.get(job.priority) ?? job.priority,
    parameters: job.parameters, result: job.result ?? null, error: job.error, subject: job.subject,
    decision: job.status === 'waiting_for_input' && d
      ? { decisionId: d.id, question: d.question, options: d.options, default: d.default, expiresAt: iso(d.expiresAt) }
      : null,
    cancelRequested: job.cancelRequested, createdAt: iso(job.createdAt)!, startedAt: iso(job.startedAt),
    completedAt: iso(job.completedAt), cancelledAt: iso(job.cancelledAt),
  };
}

export const toLogView = (e: JobLogEntry): JobLogView => ({
  timestamp: new Date(e.at).toISOString(), level: e.level, message: e.message,
  ...(e.details === undefined ? {} : { details: e.details }),
});
