import { trace, context, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { InMemorySpanExporter, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Context, Next } from 'koa';
import type { KernelConfig } from './config/schema.ts';
import type { CallWrapper } from './ports/decorate.ts';
import type { QueryEvent } from './storage/orm.ts';

export interface Telemetry {
  tracer: Tracer;
  /** Set when `telemetry.exporter` is `memory` (tests read finished spans from it). */
  memoryExporter?: InMemorySpanExporter;
  /** Koa middleware: one server span per request, named by route template. */
  httpSpan(ctx: Context, next: Next): Promise<void>;
  /** Adapter call wrapper: one client span per port call. */
  adapterSpan: CallWrapper;
  /** A span for a finished DB query (MikroORM reports after the fact). */
  querySpan(e: QueryEvent): void;
  shutdown(): Promise<void>;
}

/** Starts @opentelemetry/sdk-node with the configured exporter. Loaded on demand: it is heavy. */
export async function startTelemetry(config: KernelConfig): Promise<Telemetry> {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor, ConsoleSpanExporter, InMemorySpanExporter, SimpleSpanProcessor } =
    await import('@opentelemetry/sdk-trace-base');
  const t = config.telemetry;
  let memoryExporter: InMemorySpanExporter | undefined;
  let processor: SpanProcessor | undefined;
  if (t.exporter === 'memory') {
    memoryExporter = new InMemorySpanExporter();
    processor = new SimpleSpanProcessor(memoryExporter);
  } else if (t.exporter === 'console') {
    processor = new BatchSpanProcessor(new ConsoleSpanExporter());
  } else if (t.exporter === 'otlp') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processor = new BatchSpanProcessor(
      new OTLPTraceExporter(t.endpoint ? { url: t.endpoint } : {}) as unknown as SpanExporter,
    );
  }
  const sdk = new NodeSDK({
    serviceName: t.serviceName ?? config.name,
    spanProcessors: processor ? [processor] : [],
    instrumentations: [],
  });
  sdk.start();
  const tracer = trace.getTracer('api-kernel');

  return {
    tracer,
    memoryExporter,
    async httpSpan(ctx, next) {
      const span = tracer.startSpan(`${ctx.method}`, {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': ctx.method, 'url.path': ctx.path },
      });
      try {
        await context.with(trace.setSpan(context.active(), span), next);
      } finally {
        const route = ctx.state.routeTemplate as string | undefined;
        if (route) span.updateName(`${ctx.method} ${route}`);
        span.setAttributes({
          'http.response.status_code': ctx.status,
          ...(route ? { 'http.route': route } : {}),
          'request.id': ctx.state.requestId,
        });
        if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    },
    adapterSpan: (call, info) =>
      tracer.startActiveSpan(
        `${info.port}.${info.method}`,
        { kind: SpanKind.CLIENT, attributes: { 'kernel.port': info.port, 'kernel.adapter': info.adapter } },
        async (span) => {
          try {
            return await call();
          } catch (e) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
            throw e;
          } finally {
            span.end();
          }
        },
      ),
    querySpan(e) {
      const end = Date.now();
      const span = tracer.startSpan('db.query', {
        kind: SpanKind.CLIENT,
        startTime: end - (e.tookMs ?? 0),
        attributes: { 'db.system': config.database.driver, 'db.statement': e.query.slice(0, 2000) },
      });
      span.end(end);
    },
    shutdown: () => sdk.shutdown(),
  };
}
