import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { KernelConfig } from '../config/schema.ts';
import type { Clock } from '../ports/clock.ts';
import { measuredWrapper, type CallWrapper } from '../ports/decorate.ts';
import type { FinishedRequest, RequestHooks } from '../http/observers.ts';
import type { OutboxRow } from '../events/outbox.ts';

export interface MetricOptions<L extends string> {
  /** Must start with the plugin's name and `_` (`notes_created_total`). */
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** A plugin's handle on the deployment's metrics (`metrics` in its container). */
export interface PluginMetrics {
  counter<L extends string = string>(options: MetricOptions<L>): Counter<L>;
  /** `collect` runs at each scrape, to set the gauge from a source of truth. */
  gauge<L extends string = string>(
    options: MetricOptions<L> & { collect?: (this: Gauge<L>) => void | Promise<void> },
  ): Gauge<L>;
  histogram<L extends string = string>(options: MetricOptions<L> & { buckets?: number[] }): Histogram<L>;
}

type HttpLabel = 'method' | 'route' | 'operation' | 'status';
type AdapterLabel = 'port' | 'adapter' | 'method';

/**
 * The deployment's Prometheus registry. Plugin metrics always register (so plugin code needs
 * no branch); the kernel's own (HTTP, adapters, outbox, process) and `/metrics` exist only
 * when `metrics.enabled`.
 */
export class KernelMetrics {
  readonly registry = new Registry();
  /** Request start/end hooks for the HTTP histograms and the in-flight gauge; undefined when disabled. */
  readonly http?: RequestHooks;
  /** Adapter call wrapper (durations and errors); undefined when disabled. */
  readonly adapterCalls?: CallWrapper;

  constructor(readonly config: KernelConfig['metrics'], private logger: Logger) {
    if (!config.enabled) return;
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const duration = new Histogram<HttpLabel>({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template, operationId and status',
      labelNames: ['method', 'route', 'operation', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const inFlight = new Gauge({ name: 'http_requests_in_flight', help: 'HTTP requests being served', registers });
    this.http = {
      started: () => inFlight.inc(),
      finished: (r: FinishedRequest) => {
        inFlight.dec();
        // Unmatched paths share one label value, so a scanner cannot blow up the series count.
        const route = r.route ?? 'none';
        const labels = { method: r.method, route, operation: r.operationId ?? 'none', status: String(r.status) };
        duration.observe(labels, r.durationMs / 1000);
      },
    };
    const calls = new Histogram<AdapterLabel | 'outcome'>({
      name: 'kernel_adapter_call_duration_seconds',
      help: 'Duration of calls to adapters (ports), by outcome',
      labelNames: ['port', 'adapter', 'method', 'outcome'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const errors = new Counter<AdapterLabel>({
      name: 'kernel_adapter_call_errors_total', help: 'Adapter calls that failed',
      labelNames: ['port', 'adapter', 'method'], registers,
    });
    this.adapterCalls = measuredWrapper((info, seconds, failed) => {
      const labels = { port: info.port, adapter: info.adapter, method: info.method };
      calls.observe({ ...labels, outcome: failed ? 'error' : 'ok' }, seconds);
      if (failed) errors.inc(labels);
    });
  }

  /** Outbox gauges, read from the table at each scrape (pending rows use the published_at index). */
  watchOutbox(orm: MikroORM, clock: Clock): void {
    if (!this.config.enabled) return;
    const registers = [this.registry];
    const log = this.logger;
    new Gauge({
      name: 'kernel_outbox_pending_events', help: 'Outbox rows not yet published to the event bus', registers,
      async collect() {
        try {
          this.set(await orm.em.fork().count<OutboxRow>('KernelOutbox', { publishedAt: null }));
        } catch (err) {
          log.warn({ err }, 'metrics: counting pending outbox rows failed');
        }
      },
    });
    new Gauge({
      name: 'kernel_outbox_lag_seconds', registers,
      help: 'Age of the oldest unpublished outbox event (relay lag); 0 when none',
      async collect() {
        try {
          const em = orm.em.fork();
          const orderBy = { id: 'asc' } as never;
          const oldest = await em.findOne<OutboxRow>('KernelOutbox', { publishedAt: null }, { orderBy });
          this.set(oldest ? Math.max(0, (clock.now() - new Date(oldest.occurredAt).getTime()) / 1000) : 0);
        } catch (err) {
          log.warn({ err }, 'metrics: reading the outbox lag failed');
        }
      },
    });
  }

  /** The handle a plugin gets; its metric names must start with `<plugin>_`. */
  forPlugin(plugin: string): PluginMetrics {
    const prefix = `${plugin.replace(/[^A-Za-z0-9_]/g, '_')}_`;
    const registry = this.registry;
    function make<M>(kind: string, Type: new (config: never) => M, options: MetricOptions<string>): M {
      if (!options.name.startsWith(prefix)) {
        throw new Error(`plugin ${plugin} may only define metrics named ${prefix}*, not ${options.name}`);
      }
      const existing = registry.getSingleMetric(options.name);
      if (existing) {
        if (existing instanceof Type) return existing as M;
        throw new Error(`metric ${options.name} already exists and is not a ${kind}`);
      }
      return new Type({ ...options, registers: [registry] } as never);
    }
    return {
      counter: (options) => make('counter', Counter, options),
      gauge: (options) => make('gauge', Gauge, options),
      histogram: (options) => make('histogram', Histogram, options),
    } as PluginMetrics;
  }
}
