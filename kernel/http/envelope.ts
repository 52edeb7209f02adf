import type { OpenApiDocument } from './contracts.ts';
import { HTTP_METHODS, resolveRef } from './contracts.ts';

/**
 * The document as clients see it under `server.envelope: success`: 2xx JSON bodies are
 * wrapped as `{ success: true, data, message }` (lists as `{ success, data, pagination, message }`)
 * and errors gain `success: false, message`. Contracts are written bare; validation uses the bare form.
 */
export function documentForEnvelope(
  document: OpenApiDocument,
  envelope: 'plain' | 'success',
  messages?: Map<string, string>,
): OpenApiDocument {
  if (envelope === 'plain') return document;
  const doc = structuredClone(document);
  for (const item of Object.values(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const operation = (item as Record<string, any>)?.[method];
      if (!operation?.responses || operation['x-envelope'] === false) continue;
      for (const [status, raw] of Object.entries<any>(operation.responses)) {
        const response = resolveRef<any>(doc, raw);
        const media = response?.content?.['application/json'];
        if (!media?.schema) continue;
        const wrapped = /^2/.test(status)
          ? wrapSuccess(doc, media.schema, messages?.get(operation.operationId))
          : wrapError(media.schema);
        operation.responses[status] = {
          ...response,
          content: { ...response.content, 'application/json': { ...media, schema: wrapped } },
        };
      }
    }
  }
  return doc;
}

function wrapSuccess(doc: OpenApiDocument, schema: any, message?: string) {
  const resolved = resolveRef<any>(doc, schema);
  const isPage = resolved?.properties?.data?.type === 'array' && resolved?.properties?.pagination;
  return {
    type: 'object',
    required: ['success', 'data', 'message'],
    properties: {
      success: { const: true },
      data: isPage ? resolved.properties.data : schema,
      ...(isPage ? { pagination: resolved.properties.pagination } : {}),
      message: message ? { type: 'string', examples: [message] } : { type: 'string' },
    },
  };
}

function wrapError(schema: any) {
  return {
    allOf: [
      schema,
      {
        type: 'object',
        required: ['success', 'message'],
        properties: { success: { const: false }, message: { type: 'string' } },
      },
    ],
  };
}
