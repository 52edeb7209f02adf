/**
 * The example job: a digest of the user's recent notes, in two weighted stages with one question.
 * `POST /jobs {"type": "notes.digest", "parameters": {"days": 7}}` starts it (it is `public`);
 * progress, logs and the question arrive on the realtime channel `job:<id>`, and
 * `POST /jobs/{id}/input` answers. Each stage is a durable `step`: a retried or resumed run
 * (after the answer, a crash or a restart) returns the stored result instead of reading again.
 */
import { defineJob } from '../../kernel/index.ts';
import type { NoteRow } from './entities.ts';

export interface DigestParameters { days: number }
export interface DigestResult { noteCount: number; scope: string; digest: string }

interface Collected { id: string; title: string; pinned: boolean }

const DAY_MS = 86_400_000;

export const digest = defineJob<DigestParameters>({
  description: 'A digest of my notes of the last N days',
  public: true,
  parameters: {
    type: 'object', additionalProperties: false,
    properties: { days: { type: 'integer', minimum: 1, maximum: 90, default: 7 } },
  },
  stages: { collect: 1, compose: 3 },
  retries: 2,
  timeoutMs: 60_000,
  async handle(job, ctx): Promise<DigestResult> {
    // The job's em is scoped to its owner, like a request's: only their notes are found.
    const notes = await ctx.step('collect', async (): Promise<Collected[]> => {
      await ctx.progress(0, { stage: 'collect', message: 'Reading your notes' });
      const since = new Date(Date.now() - job.parameters.days * DAY_MS);
      const rows = await ctx.em.find<NoteRow>(
        'Note', { createdAt: { $gte: since } }, { orderBy: { createdAt: 'asc' } },
      );
      await ctx.progress(100, { stage: 'collect', message: `${rows.length} notes found` });
      return rows.map((r) => ({ id: r.id, title: r.title, pinned: r.pinned }));
    });
    await ctx.log('info', 'notes collected', { count: notes.length, days: job.parameters.days });

    const scope = await ctx.ask({
      question: `Digest all ${notes.length} notes, or only the pinned ones?`,
      options: ['all', 'pinned'], default: 'all', timeoutSeconds: 3600,
    });

    return ctx.step('compose', async (): Promise<DigestResult> => {
      const chosen = scope === 'pinned' ? notes.filter((n) => n.pinned) : notes;
      const lines: string[] = [];
      for (const [i, note] of chosen.entries()) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        lines.push(`- ${note.title}`);
        await ctx.progress(Math.round(((i + 1) / chosen.length) * 100), {
          stage: 'compose', message: `Writing ${i + 1} of ${chosen.length}`,
        });
      }
      if (!chosen.length) await ctx.progress(100, { stage: 'compose', message: 'Nothing to write' });
      return { noteCount: chosen.length, scope, digest: lines.join('\n') };
    });
  },
});
