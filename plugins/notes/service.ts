import type { EntityManager } from '@mikro-orm/core';
import { errors, encodeCursor, decodeCursor, type Page, type DomainEvent, type FastReads, type Where } from '../../kernel/index.ts';
import type { NoteRow } from './entities.ts';

export interface NoteView { id: string; title: string; body: string; pinned: boolean; createdAt: string; updatedAt: string }
type Publish = <T>(type: string, data: T, options?: { key?: string }) => Promise<DomainEvent<T>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The notes use cases. Made per request (it holds the request's EntityManager). */
export class NotesService {
  constructor(private em: EntityManager, private publish: Publish, private db?: FastReads) {}

  async list(query: { limit: number; cursor?: string; pinned?: boolean }): Promise<Page<NoteView>> {
    const after = decodeCursor(query.cursor, (v) => UUID.test(v));
    const where: Record<string, unknown> = {};
    if (after) where.id = { $lt: after };
    if (query.pinned !== undefined) where.pinned = query.pinned;
    const rows = this.db
      ? await this.db.find<NoteRow>('Note', where as Where, { orderBy: { id: 'desc' }, limit: query.limit + 1 })
      : await this.em.find<NoteRow>('Note', where, { orderBy: { id: 'desc' }, limit: query.limit + 1 });
    const page = rows.slice(0, query.limit);
    const nextCursor = rows.length > query.limit ? encodeCursor(page[page.length - 1].id) : null;
    return { data: page.map(view), pagination: { limit: query.limit, nextCursor } };
  }

  /** A hot read: a prepared statement through `db` (plain row, no identity map) when the kernel gives one. */
  async get(id: string): Promise<NoteView> {
    if (!this.db) return view(await this.load(id));
    const note = await this.db.findOne<NoteRow>('Note', { id });
    if (!note) throw errors.notFound(`Note ${id} not found`);
    return view(note);
  }

  async create(input: { title: string; body: string; pinned: boolean }): Promise<NoteView> {
    const note = this.em.create<NoteRow>('Note', { title: input.title, body: input.body, pinned: input.pinned } as NoteRow);
    // Published before the flush: the event is stored in the same transaction as the note (outbox).
    await this.publish('notes.note.created', { id: note.id, title: note.title }, { key: note.id });
    await this.em.flush();
    return view(note);
  }

  async update(id: string, changes: Partial<Pick<NoteRow, 'title' | 'body' | 'pinned'>>): Promise<NoteView> {
    const note = await this.load(id);
    this.em.assign(note, changes);
    await this.em.flush();
    return view(note);
  }

  async delete(id: string): Promise<void> {
    const note = await this.load(id);
    await this.em.remove(note).flush();
  }

  private async load(id: string): Promise<NoteRow> {
    const note = await this.em.findOne<NoteRow>('Note', { id });
    if (!note) throw errors.notFound(`Note ${id} not found`);
    return note;
  }
}

function view(n: NoteRow): NoteView {
  return { id: n.id, title: n.title, body: n.body, pinned: n.pinned, createdAt: iso(n.createdAt), updatedAt: iso(n.updatedAt) };
}

function iso(d: Date | string | number): string {
  return new Date(d).toISOString();
}
