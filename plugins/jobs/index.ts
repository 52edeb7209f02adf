import { definePlugin, defineHandlers, defineServices, reply } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import { JobsApi } from './service.ts';
import { forwardJobEvents } from './realtime.ts';
import type { RealtimeExports } from '../realtime/api.ts';

const services = defineServices<{ requires: RealtimeExports }>()
  .scoped('jobsApi', ({ jobQueue, jobs, clock, principal }) => new JobsApi(jobQueue, jobs, clock, principal));

/** A job's stream ends after one of these. */
const FINAL = new Set(['done', 'error']);

/** Per kernel (tests boot several in one process): the job-event forwarding to stop. */
const forwarding = new WeakMap<object, () => void>();

/**
 * The jobs API (contracts/jobs.yaml) over the kernel's job runtime: every plugin declares its job
 * types under `jobs` (see the README's "Jobs"); this plugin lets users read, create, cancel, retry and
 * answer them, and forwards each job's events to the realtime channel `job:<id>`.
 */
export default definePlugin({
  name: 'jobs',
  version: '1.0.0',
  description: 'Background jobs: status, progress, ETA, logs, cancel, retry, decisions; events to realtime.',
  requires: ['realtime'],
  config: { type: 'object', additionalProperties: false, properties: {} },
  services,
  permissions: [
    { name: 'jobs:read', description: 'Read my jobs and their logs', roles: ['user'] },
    { name: 'jobs:write', description: 'Create, cancel, retry and answer my jobs', roles: ['user'] },
    { name: 'admin:jobs', description: 'Read every job and the queue statistics', roles: ['admin'] },
  ],
  onStart({ jobs, jobQueue, realtime, logger }) {
    forwarding.set(jobs, forwardJobEvents(jobs, jobQueue, realtime, logger));
  },
  onStop({ jobs }) {
    forwarding.get(jobs)?.();
  },
  handlers: defineHandlers<Operations, typeof services>({
    'jobs.list': ({ query, paging }, { services }) => services.jobsApi.list(query, paging),
    'jobs.create': async ({ body }, { services }) => reply(201, await services.jobsApi.create(body)),
    'jobs.get': ({ params }, { services }) => services.jobsApi.get(params.id),
    'jobs.logs': ({ params, query, paging }, { services }) => services.jobsApi.logs(params.id, query.level, paging),
    'jobs.events': async ({ params }, { services, koa }) => {
      await services.jobsApi.get(params.id); // another user's job: 404
      return services.realtime.sse(koa, [`job:${params.id}`], { fromStart: true, endWhen: (e) => FINAL.has(e.type) });
    },
    'jobs.cancel': ({ params }, { services }) => services.jobsApi.cancel(params.id),
    'jobs.retry': async ({ params, body }, { services }) =>
      reply(201, await services.jobsApi.retry(params.id, body?.retryParameters)),
    'jobs.input': ({ params, body }, { services }) => services.jobsApi.input(params.id, body.decisionId, body.choice),
    'jobs.adminList': async ({ query, paging }, { services }) => {
      const page = await services.jobsApi.list(query, paging, true);
      return { ...page, stats: await services.jobsApi.stats() };
    },
  }),
});
