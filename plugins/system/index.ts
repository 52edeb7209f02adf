import { definePlugin, AppError } from '../../kernel/index.ts';

type Headers = Record<string, string | string[] | undefined>;
interface Health {
  live(): Promise<{ ok: boolean; body: Record<string, unknown> }>;
  ready(headers: Headers): Promise<{ ok: boolean; checks: Array<{ name: string; ok: boolean; ms?: number; error?: string }> }>;
}

/**
 * `/health` (liveness, with the details `health.details` lists) and `/health/ready` (every
 * dependency, cached briefly), served at the root or at `health.path`.
 */
export default definePlugin({
  name: 'system',
  version: '1.0.0',
  description: 'Liveness and readiness probes.',
  mountAtRoot: true,
  handlers: {
    'system.health': async (_req, { services }) => {
      const { ok, body } = await (services.health as Health).live();
      if (!ok) throw new AppError(503, 'UNHEALTHY', 'Service unhealthy', { details: body, headers: { 'Retry-After': '5' } });
      return body;
    },
    'system.ready': async (req, { services }) => {
      const { ok, checks } = await (services.health as Health).ready(req.headers);
      if (!ok) {
        const failing = checks.filter((c) => !c.ok);
        throw new AppError(503, 'NOT_READY', `Not ready: ${failing.map((c) => c.name).join(', ')}`, {
          details: { failing, retry_after: 5 },
          headers: { 'Retry-After': '5' },
        });
      }
      return { status: 'ok', checks };
    },
  },
});
