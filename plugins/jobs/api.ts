/** What other plugins may know of the jobs plugin: the views its API returns. Enqueue through the kernel's `jobs`. */
import type { JobStatus } from '../../kernel/index.ts';

export interface JobDecisionView {
  decisionId: string; question: string; options: string[]; default: string | null; expiresAt: string | null;
}

export interface JobView {
  id: string; type: string; status: JobStatus; progress: number; stage: string | null;
  stageDescription: string | null; estimatedCompletion: string | null; attempts: number; maxAttempts: number;
  retryCount: number; originalJobId: string | null; priority: string | number; parameters: unknown;
  result: unknown; error: { message: string; code?: string } | null; subject: string | null;
  decision: JobDecisionView | null; cancelRequested: boolean; createdAt: string; startedAt: string | null;
  completedAt: string | null; cancelledAt: string | null;
}

export interface JobLogView { timestamp: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string;
  details?: unknown }
