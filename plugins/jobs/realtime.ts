/**
 * Job events to the realtime service (helper G's plugins/realtime, `requires: ['realtime']`):
 * each event of a job run in this process goes to `job:<id>`, and its status changes to
 * `user:<ownerId>`; only a job's owner may read `job:<id>`.
 */
import { errors, type JobEvent, type JobQueue, type Jobs } from '../../kernel/index.ts';
import type { Logger } from 'pino';
import type { Realtime } from '../realtime/api.ts';

const TO_USER = new Set<JobEvent['type']>(['status', 'done', 'error', 'decision']);

export function forwardJobEvents(jobs: Jobs, queue: JobQueue, realtime: Realtime, logger: Logger): () => void {
  realtime.authorize('job:', async (principal, channel) => {
    const job = await queue.get(channel.slice('job:'.length));
    return job !== null && job.ownerId === principal.id;
  });
  // A WebSocket `answer {jobId, decisionId, choice}` resumes a job as POST /jobs/{id}/input does.
  realtime.onMessage('answer', async (m, { principal }) => {
    const [jobId, decisionId, choice] = [m.jobId, m.decisionId, m.choice];
    if (typeof jobId !== 'string' || typeof decisionId !== 'string' || typeof choice !== 'string') {
      throw errors.badRequest('answer needs jobId, decisionId and choice (strings)');
    }
    const job = await jobs.answer(jobId, decisionId, choice, { ownerId: principal.id });
    return { jobId: job.id, status: job.status };
  });
  // One chain per job keeps its events in order however long each emit takes.
  const chains = new Map<string, Promise<void>>();
  return jobs.watch((e) => {
    const send = async () => {
      await realtime.emit(`job:${e.jobId}`, e.type, e.data);
      if (e.ownerId && TO_USER.has(e.type)) {
        await realtime.emit(`user:${e.ownerId}`, `job.${e.type}`, { jobId: e.jobId, ...e.data });
      }
    };
    const next = (chains.get(e.jobId) ?? Promise.resolve()).then(send)
      .catch((err) => logger.warn({ err, jobId: e.jobId, event: e.type }, 'a job event did not reach realtime'));
    chains.set(e.jobId, next);
    void next.finally(() => { if (chains.get(e.jobId) === next) chains.delete(e.jobId); });
  });
}
