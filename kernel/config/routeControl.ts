import type { JsonSchema } from '../ports/adapter.ts';

/** Keys every `plugins.<name>` section may carry beside `enabled`, read by the kernel, never by the plugin. */
export const ROUTE_CONTROL_KEYS = ['routes', 'mount', 'operations'] as const;

export const routeControlSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    routes: { type: 'boolean', description: "`false` keeps the services and serves none of the plugin's HTTP." },
    mount: {
      type: 'string',
      pattern: '^(/[A-Za-z0-9._~-]+)*$',
      description: "Prefix of the plugin's routes instead of server.basePath.",
    },
    operations: {
      type: 'object',
      additionalProperties: false,
      properties: {
        exclude: {
          type: 'array',
          items: { type: 'string' },
          uniqueItems: true,
          description: 'operationIds not served.',
        },
      },
    },
  },
};

export interface RouteControl { routes?: boolean; mount?: string; operations?: { exclude?: string[] } }

/** Splits a plugin section into the kernel's route control and the plugin's own options. */
export function splitRouteControl(section: Record<string, unknown>): {
  control: RouteControl;
  rest: Record<string, unknown>;
} {
  const control: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(section))
    ((ROUTE_CONTROL_KEYS as readonly string[]).includes(k) ? control : rest)[k] = v;
  return { control: control as RouteControl, rest };
}
