/** Boot step: the declared job types, the `jobs` service, and (where this process works) the worker and schedules. */
import type { Kernel } from '../boot.ts';
import { BootError } from '../config/problems.ts';
import type { Clock } from '../ports/clock.ts';
import type { IdGenerator } from '../ports/ids.ts';
import type { JobQueue } from '../ports/jobQueue.ts';
import { errors } from '../errors.ts';
import { scopeToPrincipal } from '../storage/ownership.ts';
import { JobsClient, type DeclaredJob } from '../jobs/client.ts';
import { JobWorker } from '../jobs/worker.ts';
import { Scheduler, type PluginSchedule } from '../jobs/schedules.ts';

const DEFAULTS = { worker: true, heartbeatMs: 2000, pollMs: 500, cancelPollMs: 250, shutdownTimeoutMs: 10_000 };
export const jobsConfig = (kernel: Kernel) => ({ ...DEFAULTS, ...kernel.config.jobs });

/** Collects `jobs` and `schedules` of every plugin and makes the `jobs` service (before plugin containers). */
export function prepareJobs(kernel: Kernel): void {
  const declared = new Map<string, DeclaredJob>();
  const schedules: PluginSchedule[] = [];
  const problems: string[] = [];
  for (const plugin of kernel.plan.plugins) {
    for (const [type, def] of Object.entries(plugin.jobs ?? {})) {
      if (!type.startsWith(`${plugin.name}.`)) {
        problems.push(`plugin ${plugin.name}: job type "${type}" must be named ${plugin.name}.<type>`);
      }
      declared.set(type, { type, plugin: plugin.name, def });
    }
    for (const schedule of plugin.schedules ?? []) schedules.push({ plugin: plugin.name, schedule });
  }
  for (const { plugin, schedule } of schedules) {
    if (!declared.has(schedule.job)) {
      problems.push(
        `plugin ${plugin}: schedule "${schedule.name}" runs job "${schedule.job}", which no plugin declares`,
      );
    }
  }
  const hasQueue = kernel.root.hasRegistration('jobQueue') && !kernel.jobsUnavailable;
  if (declared.size && !hasQueue && !kernel.jobsUnavailable) {
    problems.push(`plugins declare jobs (${[...declared.keys()].join(', ')}): configure adapters.jobQueue`);
  }
  if (problems.length) throw new BootError(problems);
  if (!hasQueue) return;
  const root = kernel.root.cradle;
  kernel.jobs = new JobsClient(
    declared, () => root.jobQueue as JobQueue, root.ids as IdGenerator, kernel.logger.child({ component: 'jobs' }),
  );
  kernel.jobSchedules = schedules;
}

/** Starts the worker and the schedules when this process works jobs (`jobs.worker`, or `cli worker`). */
export function startJobs(kernel: Kernel): void {
  const client = kernel.jobs;
  const config = jobsConfig(kernel);
  if (!client || !config.worker) return;
  const root = kernel.root.cradle;
  const logger = kernel.logger.child({ component: 'jobs' });
  const clock = root.clock as Clock;
  kernel.jobWorker = new JobWorker(client.declared, root.jobQueue as JobQueue, config, {
    clock, logger, emit: (e) => client.notify(e),
    em: (ownerId) => {
      if (!kernel.orm) throw errors.unavailable('database');
      const em = kernel.orm.em.fork();
      return ownerId ? scopeToPrincipal(em, { type: 'user', id: ownerId }) : em;
    },
    scope: (plugin) => {
      const runtime = kernel.runtimes.get(plugin)!;
      return { services: runtime.container.cradle, publish: runtime.publish };
    },
  });
  client.onEnqueued = () => kernel.jobWorker?.kick();
  kernel.scheduler = new Scheduler(
    kernel.jobSchedules ?? [], (type, parameters, dedupKey) => client.enqueue(type, parameters, { dedupKey }),
    clock, logger,
  );
  kernel.jobWorker.start();
  kernel.scheduler.start();
}

/** Stops the schedules and the worker: running jobs may finish within `deadlineMs`, then are handed back. */
export async function stopJobs(kernel: Kernel, deadlineMs: number): Promise<void> {
  kernel.scheduler?.stop();
  await kernel.jobWorker?.stop(deadlineMs);
}
