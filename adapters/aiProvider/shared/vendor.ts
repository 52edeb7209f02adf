/** What every vendor adapter shares: its egress-bound HTTP, keys, and the defaults of its options. */
import type { AdapterContext } from '../../../kernel/ports/adapter.ts';
import type { Egress } from '../../../kernel/ports/egress.ts';
import { AiError, type CallOptions, type FinishReason } from '../../../kernel/ports/aiProvider.ts';
import type { VendorHttp } from './http.ts';

export interface VendorOptions {
  /** The provider's name in this deployment (default: the preset's or the adapter's). */
  name?: string;
  apiKey?: string;
  baseUrl?: string;
  timeoutMs?: number;
  idleTimeoutMs?: number;
  /** Extra headers on every call (OpenAI-Organization, a gateway's routing header...). */
  headers?: Record<string, string>;
}

export interface VendorDeps {
  /** The egress port; default `ctx.port('egress')`. */
  egress?: Egress;
}

export function vendorHttp(provider: string, o: VendorOptions, ctx: AdapterContext, deps: VendorDeps): VendorHttp {
  const egress = deps.egress;
  return {
    provider,
    egress: () => {
      if (egress) return egress;
      if (!ctx.port) throw new AiError('unavailable', provider, 'No egress port to send through');
      return ctx.port<Egress>('egress');
    },
    timeoutMs: o.timeoutMs ?? 60_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 30_000,
    now: () => ctx.clock.now(),
  };
}

/** The per-call key (the user's own) wins over the configured one; a vendor that needs one and has none is `auth`. */
export function keyFor(provider: string, configured: string | undefined, o: CallOptions, required = true):
  string | undefined {
  const key = o.apiKey ?? configured;
  if (!key && required) throw new AiError('auth', provider, `No API key configured for ${provider}`);
  return key || undefined;
}

export const baseOf = (url: string) => url.replace(/\/+$/, '');

export function finishOf(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'length': case 'max_tokens': case 'MAX_TOKENS': return 'length';
    case 'content_filter': case 'SAFETY': case 'RECITATION': case 'PROHIBITED_CONTENT': case 'BLOCKLIST':
    case 'SPII': case 'refusal':
      return 'content_filter';
    case 'tool_calls': case 'function_call': case 'tool_use': return 'tool_calls';
    default: return 'stop';
  }
}

/** A multipart/form-data body (audio uploads) without a form library. */
export function multipart(fields: Record<string, string | { data: Uint8Array; filename: string; type: string }>): {
  body: Buffer; contentType: string;
} {
  const boundary = `----aikernel${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
    } else {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; `
        + `filename="${value.filename}"\r\nContent-Type: ${value.type}\r\n\r\n`));
      parts.push(Buffer.from(value.data.buffer, value.data.byteOffset, value.data.byteLength), Buffer.from('\r\n'));
    }
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
