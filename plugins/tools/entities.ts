import { defineEntity, p, type RowOf } from '../../kernel/index.ts';

/** A tool an admin registered: where invocations go, and what a caller's plan must include. */
export const Tool = defineEntity('Tool', {
  table: 'tools_tools',
  properties: {
    id: p.id(),
    name: p.string({ length: 100 }),
    description: p.text(),
    usageInfo: p.text({ nullable: true }),
    endpointUrl: p.string({ length: 2000 }),
    method: p.string({ length: 10, default: 'POST' }),
    /** Header names and their values, each value sealed with the deployment's secrets key; never returned. */
    headers: p.json<Record<string, unknown>>(),
    timeoutMs: p.integer({ default: 10000 }),
    /** The plan feature a caller needs (e.g. `tools`, `premium-tools`). */
    feature: p.string({ length: 100, default: 'tools' }),
    /** Dot path to the tokens used in the tool's JSON response (e.g. `usage.total_tokens`); estimated when absent. */
    tokensPath: p.string({ length: 200, nullable: true }),
    status: p.string({ length: 20, default: 'active' }),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['name'], unique: true }],
});
export type ToolRow = RowOf<typeof Tool>;

/** One row per invocation, failed ones too (seed 001 FR-017, SC-008). */
export const ToolInvocation = defineEntity('ToolInvocation', {
  table: 'tools_invocations',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    toolId: p.string({ length: 36 }),
    tokensUsed: p.integer({ default: 0 }),
    /** Whether the count came from the tool's response (`reported`) or the tokenizer (`estimated`). */
    tokensSource: p.string({ length: 20 }),
    /** `ok`, `tool_error` (the tool answered 4xx/5xx), `unavailable` (down or timed out). */
    status: p.string({ length: 20 }),
    httpStatus: p.integer({ nullable: true }),
    durationMs: p.integer(),
    createdAt: p.datetime(),
  },
  indexes: [{ properties: ['userId', 'createdAt'] }, { properties: ['toolId', 'createdAt'] }],
});
export type ToolInvocationRow = RowOf<typeof ToolInvocation>;
