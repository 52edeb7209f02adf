import type { EntityManager } from '@mikro-orm/core';
import { errors, paginate, type FastReads, type Page, type PageRequest, type Secrets } from '../../kernel/index.ts';
import type { ToolRow } from './entities.ts';

import type { Schemas } from './contract.gen.ts';

export type ToolView = Schemas['Tool'];
export type ToolInput = Schemas['ToolUpdate'];

/** Tools as admins register them. Header values are sealed per tool and header, and never leave the plugin. */
export class ToolCatalog {
  constructor(private em: EntityManager, private db: FastReads, private secrets: Secrets) {}

  list(paging: PageRequest, admin: boolean): Promise<Page<ToolView>> {
    return paginate<ToolRow, ToolView>(this.em, 'Tool', {
      request: paging, where: { status: 'active' }, map: (t) => view(t, admin),
    });
  }

  async get(id: string, admin: boolean): Promise<ToolView> {
    return view(await this.read(id), admin);
  }

  /** A plain row through the prepared read path: what an invocation needs, without an entity to manage. */
  async read(id: string): Promise<ToolRow> {
    return found(id, await this.db.findOne<ToolRow>('Tool', { id, status: 'active' }));
  }

  /** The managed entity, to change. */
  async load(id: string): Promise<ToolRow> {
    return found(id, await this.em.findOne<ToolRow>('Tool', { id, status: 'active' }));
  }

  async create(input: ToolInput): Promise<ToolView> {
    const tool = this.em.create<ToolRow>('Tool', { ...input, headers: {} } as ToolRow);
    tool.headers = this.seal(tool.id, input.headers ?? {});
    await this.em.flush(); // a taken name is a unique violation: the kernel answers 409
    return view(tool, true);
  }

  async update(id: string, input: ToolInput): Promise<ToolView> {
    const tool = await this.load(id);
    const { headers, ...rest } = input;
    this.em.assign(tool, rest);
    if (headers) tool.headers = this.seal(tool.id, headers);
    await this.em.flush();
    return view(tool, true);
  }

  /** Soft: the invocation log keeps naming the tool. */
  async delete(id: string): Promise<void> {
    const tool = await this.load(id);
    tool.status = 'deleted';
    tool.name = `${tool.name.slice(0, 60)} (deleted ${tool.id})`; // frees the name for a new tool
    await this.em.flush();
  }

  /** The headers to send, opened. */
  openHeaders(tool: ToolRow): Record<string, string> {
    return Object.fromEntries(Object.entries(tool.headers).map(([name, sealed]) =>
      [name, this.secrets.open(String(sealed), context(tool.id, name))]));
  }

  private seal(toolId: string, headers: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(headers).map(([name, value]) =>
      [name, this.secrets.seal(value, context(toolId, name))]));
  }
}

function found(id: string, tool: ToolRow | null): ToolRow {
  if (!tool) throw errors.notFound(`Tool ${id} not found`);
  return tool;
}

const context = (toolId: string, header: string) => `tools.header:${toolId}:${header.toLowerCase()}`;

function view(t: ToolRow, admin: boolean): ToolView {
  return {
    id: t.id, name: t.name, description: t.description, usageInfo: t.usageInfo ?? null,
    method: t.method as ToolView['method'],
    timeoutMs: t.timeoutMs, feature: t.feature, headerNames: Object.keys(t.headers ?? {}),
    ...(admin ? { endpointUrl: t.endpointUrl, tokensPath: t.tokensPath ?? null } : {}),
    createdAt: new Date(t.createdAt).toISOString(), updatedAt: new Date(t.updatedAt).toISOString(),
  };
}
