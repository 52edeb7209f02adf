/**
 * The jobs table of the `database` JobQueue adapter, on the deployment's own database. It is an
 * entity so that a job can be staged in a caller's unit of work (`enqueue(job, { em })`); the
 * adapter claims and updates rows with SQL of its own. Times are epoch ms (bigint).
 */
import { defineEntity } from '../storage/entity.ts';
import type { Migration } from '../storage/migrations.ts';

export const JOB_ENTITY = 'KernelJob';

export const JobEntity = defineEntity({
  name: JOB_ENTITY,
  table: 'kernel_jobs',
  properties: {
    type: { type: 'string', length: 200 },
    status: { type: 'string', length: 20 },
    parameters: { type: 'json' },
    priority: { type: 'integer' },
    ownerId: { type: 'string', length: 36, nullable: true },
    subject: { type: 'string', length: 200, nullable: true },
    dedupKey: { type: 'string', length: 200, nullable: true },
    attempts: { type: 'integer' },
    maxAttempts: { type: 'integer' },
    runAt: { type: 'bigint' },
    progress: { type: 'number' },
    stage: { type: 'string', length: 100, nullable: true },
    stageMessage: { type: 'string', length: 500, nullable: true },
    result: { type: 'json', nullable: true },
    error: { type: 'json', nullable: true },
    originalJobId: { type: 'string', length: 36, nullable: true },
    retryCount: { type: 'integer' },
    steps: { type: 'json' },
    decision: { type: 'json', nullable: true },
    decisionExpiresAt: { type: 'bigint', nullable: true },
    cancelRequested: { type: 'boolean' },
    token: { type: 'integer' },
    leaseUntil: { type: 'bigint', nullable: true },
    workerId: { type: 'string', length: 100, nullable: true },
    createdAt: { type: 'bigint' },
    startedAt: { type: 'bigint', nullable: true },
    completedAt: { type: 'bigint', nullable: true },
    cancelledAt: { type: 'bigint', nullable: true },
  },
});

export const jobTableMigrations: Migration[] = [{
  name: '0001_jobs',
  async up(knex) {
    await knex.schema.createTable('kernel_jobs', (t) => {
      t.string('id', 36).primary();
      t.string('type', 200).notNullable();
      t.string('status', 20).notNullable();
      t.json('parameters').notNullable();
      t.integer('priority').notNullable();
      t.string('owner_id', 36).nullable();
      t.string('subject', 200).nullable();
      t.string('dedup_key', 200).nullable().unique();
      t.integer('attempts').notNullable();
      t.integer('max_attempts').notNullable();
      t.bigInteger('run_at').notNullable();
      t.double('progress').notNullable();
      t.string('stage', 100).nullable();
      t.string('stage_message', 500).nullable();
      t.json('result').nullable();
      t.json('error').nullable();
      t.string('original_job_id', 36).nullable();
      t.integer('retry_count').notNullable();
      t.json('steps').notNullable();
      t.json('decision').nullable();
      t.bigInteger('decision_expires_at').nullable();
      t.boolean('cancel_requested').notNullable();
      t.integer('token').notNullable();
      t.bigInteger('lease_until').nullable();
      t.string('worker_id', 100).nullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('started_at').nullable();
      t.bigInteger('completed_at').nullable();
      t.bigInteger('cancelled_at').nullable();
      t.index(['type', 'status', 'run_at']);
      t.index(['owner_id', 'created_at']);
    });
    // The claim's order over pending jobs of a type (partial: finished jobs do not grow it).
    await knex.raw(`CREATE INDEX kernel_jobs_due ON kernel_jobs (type, priority DESC, run_at, id)
      WHERE status = 'pending'`);
    await knex.schema.createTable('kernel_job_logs', (t) => {
      t.increments('seq').primary();
      t.string('job_id', 36).notNullable().index();
      t.string('level', 10).notNullable();
      t.string('message', 2000).notNullable();
      t.json('details').nullable();
      t.bigInteger('at').notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTable('kernel_job_logs');
    await knex.schema.dropTable('kernel_jobs');
  },
}];
