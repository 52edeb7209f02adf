import type { OpenAPIV3_1 } from 'openapi-types';
import type { KernelConfig } from '../config/schema.ts';
import { livenessSchema } from '../health.ts';
import {
  mergeParameters,
  resolveRef,
  type MergedContract,
  type OpenApiDocument,
  type OperationEntry,
} from './contracts.ts';
import { camelToSnake, documentForCasing, planFor, type KeyPlan } from './casing.ts';
import { documentForEnvelope } from './envelope.ts';
import { errorDialect, errorSchema } from './errorFormat.ts';

/** What the edge does for one operation, compiled at boot. */
export interface OperationDialect {
  /** `message` under `envelope: success`. */
  message: string;
  /** The operation lists through the paging helper (`x-paging: true`). */
  paging: boolean;
  /** `x-error-format: <name>`: a plugin-registered error format renders this operation's errors. */
  errorFormat?: string;
  /** Present under `casing: snake`. */
  casing?: {
    params: Map<string, string>;
    query: Map<string, string>;
    /** wire -> canonical, per request media type. */
    body?: KeyPlan;
    /** canonical -> wire, per status. */
    responses: Map<string, KeyPlan | undefined>;
  };
}

export interface WireContract {
  /** The bare document in wire names and paging style: validators compile over it. */
  document: OpenApiDocument;
  /** Operations at their wire paths, with wire parameters. */
  operations: OperationEntry[];
  /** What `/openapi.json` serves: the wire document with the envelope. */
  served: OpenApiDocument;
  operationDialects: Map<string, OperationDialect>;
}

const PAGE_PARAM = {
  name: 'page', in: 'query', description: 'Page number, from 1.',
  schema: { type: 'integer', minimum: 1, maximum: 100000, default: 1 },
};
const PAGE_PAGINATION = {
  type: 'object',
  required: ['page', 'limit', 'total', 'totalPages', 'hasMore'],
  properties: {
    page: { type: 'integer', minimum: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 100 },
    total: { type: 'integer', minimum: 0 },
    totalPages: { type: 'integer', minimum: 0 },
    hasMore: { type: 'boolean' },
  },
};

/**
 * Applies the deployment's dialect to the merged (canonical) contract: error schema, health
 * body, paging style, casing, then the envelope for the served copy. Done once, at boot.
 */
export function wireContract(merged: MergedContract, config: KernelConfig): WireContract {
  const doc = structuredClone(merged.document) as OpenApiDocument & { components: Record<string, any> };
  const schemas: Record<string, unknown> = (doc.components.schemas ??= {});
  schemas.Error = errorSchema(errorDialect(config));
  if (schemas['system.SystemHealth']) schemas['system.SystemHealth'] = livenessSchema(config.health);
  const pageStyle = config.server.pagination === 'page';
  if (pageStyle) {
    const parameters: Record<string, unknown> = (doc.components.parameters ??= {});
    parameters.Page = PAGE_PARAM;
    schemas.PagePagination = PAGE_PAGINATION;
  }
  const snake = config.server.casing === 'snake';
  const dialects = new Map<string, OperationDialect>();
  const located: Array<{ entry: OperationEntry; op: any }> = [];
  for (const entry of merged.operations) {
    const op = (doc.paths as any)[entry.path][entry.method];
    const paging = op['x-paging'] === true;
    if (paging && pageStyle) toPageStyle(doc, op);
    const errorFormat = typeof op['x-error-format'] === 'string' ? (op['x-error-format'] as string) : undefined;
    dialects.set(entry.operationId, { message: successMessage(config, entry, op), paging, errorFormat });
    located.push({ entry, op });
  }
  if (snake) {
    const memo = { in: new Map<string, KeyPlan>(), out: new Map<string, KeyPlan>() };
    for (const { entry, op } of located) {
      const item = (doc.paths as any)[entry.path];
      const params = mergeParameters(item.parameters ?? [], op.parameters ?? [], doc);
      const names = (where: string) =>
        new Map(params.filter((p) => p.in === where).map((p) => [camelToSnake(p.name), p.name]));
      const body = resolveRef<OpenAPIV3_1.RequestBodyObject>(doc, op.requestBody)?.content?.['application/json']
        ?.schema;
      const responses = new Map<string, KeyPlan | undefined>();
      for (const [status, raw] of Object.entries<any>(op.responses ?? {})) {
        const schema = resolveRef<OpenAPIV3_1.ResponseObject>(doc, raw)?.content?.['application/json']?.schema;
        if (schema) responses.set(status, planFor(doc, schema, 'out', memo.out));
      }
      dialects.get(entry.operationId)!.casing = {
        params: names('path'), query: names('query'), responses,
        body: body ? planFor(doc, body, 'in', memo.in) : undefined,
      };
    }
  }
  const wire = documentForCasing(doc, snake ? 'snake' : 'camel');
  const operations = merged.operations.map((entry) => {
    const path = snake ? entry.path.replace(/\{([^}]+)\}/g, (_, n: string) => `{${camelToSnake(n)}}`) : entry.path;
    const item = (wire.paths as any)[path];
    const operation = item[entry.method];
    return {
      ...entry,
      path,
      operation,
      parameters: mergeParameters(item.parameters ?? [], operation.parameters ?? [], wire),
    };
  });
  const messages = new Map([...dialects].map(([id, d]) => [id, d.message]));
  return {
    document: wire,
    operations,
    served: documentForEnvelope(wire, config.server.envelope, messages),
    operationDialects: dialects,
  };
}

/** Cursor parameter -> page parameter; `pagination` of the 2xx bodies -> the page/limit shape. */
function toPageStyle(doc: OpenApiDocument, op: any) {
  const cursor = '#/components/parameters/Cursor';
  op.parameters = (op.parameters ?? []).map((p: any) =>
    p?.$ref === cursor ? { $ref: '#/components/parameters/Page' } : p,
  );
  for (const [status, raw] of Object.entries<any>(op.responses ?? {})) {
    if (!/^2/.test(status)) continue;
    const response = structuredClone(resolveRef<any>(doc, raw));
    const media = response?.content?.['application/json'];
    if (!media?.schema) continue;
    const schema = structuredClone(resolveRef<any>(doc, media.schema));
    if (!schema?.properties?.pagination) continue;
    schema.properties.pagination = { $ref: '#/components/schemas/PagePagination' };
    media.schema = schema;
    op.responses[status] = response;
  }
}

const VERBS: Record<string, string> = {
  create: 'created', add: 'added', get: 'retrieved', read: 'retrieved', show: 'retrieved', list: 'retrieved',
  update: 'updated', replace: 'updated', patch: 'updated', delete: 'deleted', remove: 'deleted',
};

/**
 * The deployment's override, else the contract's `x-success-message`, else one derived from
 * the operationId: `projects.create` -> "Project created successfully", `identity.login` -> "Login successful".
 */
export function successMessage(config: KernelConfig, entry: OperationEntry, op: any): string {
  const override = config.server.messages?.[entry.operationId];
  if (override) return override;
  if (typeof op['x-success-message'] === 'string') return op['x-success-message'];
  const [plugin, action = ''] = entry.operationId.split('.');
  const words = action.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/\s+/).filter(Boolean);
  const verb = VERBS[words[0]];
  if (verb) {
    const rest = words.slice(1).join(' ');
    const noun = rest || (words[0] === 'list' ? plugin : singular(plugin));
    return `${capitalize(noun)} ${verb} successfully`;
  }
  return `${capitalize(words.join(' ') || plugin)} successful`;
}

function singular(word: string): string {
  if (/ies$/.test(word)) return word.slice(0, -3) + 'y';
  if (/ses$/.test(word)) return word.slice(0, -2);
  return word.replace(/s$/, '');
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

