import type { EntityManager } from '@mikro-orm/core';
import {
  errors,
  paginate,
  whereHasTag,
  type Page,
  type PageRequest,
  type DomainEvent,
  type FastReads,
} from '../../kernel/index.ts';
import type { NoteRow } from './entities.ts';

export interface NoteView {
  id: string; title: string; body: string; pinned: boolean; tags: string[]; createdAt: string; updatedAt: string;
}
type Publish = <T>(type: string, data: T, options?: { key?: string }) => Promise<DomainEvent<T>>;

/**
 * The notes use cases for the request's user. `Note` is `ownedBy: 'ownerId'`, so the kernel
 * scopes every query through `em` and `db` to that user and stamps the owner on create:
 * another user's note is simply not found (404). Made per request.
 */
export class NotesService {
  constructor(private em: EntityManager, private publish: Publish, private db?: FastReads) {}

  /** One list query; the deployment's `server.pagination` picks cursor or page/limit on the wire. */
  async list(query: { pinned?: boolean; tag?: string }, paging: PageRequest): Promise<Page<NoteView>> {
    const where: Record<string, unknown> = {};
    if (query.pinned !== undefined) where.pinned = query.pinned;
    if (query.tag !== undefined) Object.assign(where, whereHasTag(this.em, 'Note', 'tags', query.tag));
    // Plain filters page through the prepared read path; the tag filter is a per-driver SQL fragment (em only).
    const reads = query.tag === undefined ? this.db : undefined;
    return paginate<NoteRow, NoteView>(this.em, 'Note', { request: paging, where, map: view, reads });
  }

  /** A hot read: a prepared statement through `db` (plain row, no identity map) when the kernel gives one. */
  async get(id: string): Promise<NoteView> {
    if (!this.db) return view(await this.load(id));
    const note = await this.db.findOne<NoteRow>('Note', { id });
    if (!note) throw errors.notFound(`Note ${id} not found`);
    return view(note);
  }

  async create(input: { title: string; body: string; pinned: boolean; tags?: string[] }): Promise<NoteView> {
    const fields = { title: input.title, body: input.body, pinned: input.pinned, tags: input.tags ?? [] };
    const note = this.em.create<NoteRow>('Note', fields as NoteRow);
    // Published before the flush: the event is stored in the same transaction as the note (outbox).
    await this.publish('notes.note.created', { id: note.id, title: note.title }, { key: note.id });
    await this.em.flush();
    return view(note);
  }

  async update(id: string, changes: Partial<Pick<NoteRow, 'title' | 'body' | 'pinned' | 'tags'>>): Promise<NoteView> {
    const note = await this.load(id);
    this.em.assign(note, changes);
    await this.em.flush();
    return view(note);
  }

  async delete(id: string): Promise<void> {
    const note = await this.load(id);
    await this.em.remove(note).flush();
  }

  /** One of the owner's notes, or a 404 (also for another user's note: its existence is not revealed). */
  async load(id: string): Promise<NoteRow> {
    const note = await this.em.findOne<NoteRow>('Note', { id });
    if (!note) throw errors.notFound(`Note ${id} not found`);
    return note;
  }
}

function view(n: NoteRow): NoteView {
  const times = { createdAt: iso(n.createdAt), updatedAt: iso(n.updatedAt) };
  return { id: n.id, title: n.title, body: n.body, pinned: n.pinned, tags: n.tags ?? [], ...times };
}

function iso(d: Date | string | number): string {
  return new Date(d).toISOString();
}
