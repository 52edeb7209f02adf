import { definePlugin, defineHandlers, defineServices, AppError } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';

const services = defineServices();

/**
 * `/health` (liveness, with the details `health.details` lists) and `/health/ready` (every
 * dependency, cached briefly), served at the root or at `health.path`.
 */
export default definePlugin({
  name: 'system',
  version: '1.0.0',
  services,
  description: 'Liveness and readiness probes.',
  mountAtRoot: true,
  handlers: defineHandlers<Operations, typeof services>({
    'system.health': async (_req, { services }) => {
      const { ok, body } = await services.health.live();
      if (!ok)
        throw new AppError(503, 'UNHEALTHY', 'Service unhealthy', { details: body, headers: { 'Retry-After': '5' } });
      // The liveness body is assembled from `health.details` at run time; the contract's schema checks it.
      return body as Operations['system.health']['response'];
    },
    'system.ready': async (req, { services }) => {
      const { ok, degraded, checks } = await services.health.ready(req.headers);
      if (!ok) {
        const failing = checks.filter((c) => !c.ok);
        throw new AppError(503, 'NOT_READY', `Not ready: ${failing.map((c) => c.name).join(', ')}`, {
          details: { failing, retry_after: 5 },
          headers: { 'Retry-After': '5' },
        });
      }
      return { status: degraded ? 'degraded' : 'ok', checks };
    },
  }),
});
