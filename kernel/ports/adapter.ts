import type { Logger } from 'pino';
import type { Clock } from './clock.ts';

/** A JSON Schema object (draft 2020-12), as used in config and contracts. */
export type JsonSchema = Record<string, unknown>;

/** What every adapter instance may offer beside its port's methods. */
export interface AdapterLifecycle {
  /** Throws (or rejects) when the backing service is not usable. Used by /health/ready. */
  health?(): Promise<void>;
  /**
   * Names of parts that work but not fully (a cooled-down AI vendor with fallbacks left): /health/ready stays 200
   * and says `degraded`.
   */
  degraded?(): string[];
  /** Releases connections. Called once, in reverse start order, on shutdown. */
  close?(): Promise<void>;
}

export interface AdapterContext {
  logger: Logger;
  clock: Clock;
  /** Name of the deployment/service, useful for client ids and consumer group prefixes. */
  serviceName: string;
  /**
   * Another port's instance, looked up when called (not at create time, so start order does not matter):
   * an AI vendor adapter sends through `port('egress')`. Throws when the deployment has no such port.
   */
  port?<T = unknown>(name: string): T;
}

/**
 * One implementation of one port. `options` are the keys beside `use` in
 * `adapters.<port>` and are validated against `optionsSchema` before `create` runs.
 */
export interface AdapterDefinition<Port = unknown, Options = any> {
  port: string;
  name: string;
  description?: string;
  optionsSchema: JsonSchema;
  /**
   * In-process (memory, log): calls cannot time out or lose a connection, so the kernel does not
   * wrap them for that.
   */
  local?: boolean;
  create(options: Options, ctx: AdapterContext): Promise<Port & AdapterLifecycle> | (Port & AdapterLifecycle);
}

export function defineAdapter<Port, Options = any>(
  def: AdapterDefinition<Port, Options>,
): AdapterDefinition<Port, Options> {
  return def;
}
