import { definePlugin, AppError } from '../../kernel/index.ts';

interface Health { check(): Promise<Array<{ name: string; ok: boolean; ms: number; error?: string }>> }
interface KernelInfo { name: string; version: string; startedAt: number }

/** `/health` (liveness) and `/health/ready` (every dependency), served at the root. */
export default definePlugin({
  name: 'system',
  version: '1.0.0',
  description: 'Liveness and readiness probes.',
  mountAtRoot: true,
  handlers: {
    'system.health': (_req, { services }) => {
      const info = services.kernelInfo as KernelInfo;
      return { status: 'ok', name: info.name, version: info.version, uptimeSeconds: (Date.now() - info.startedAt) / 1000 };
    },
    'system.ready': async (_req, { services }) => {
      const checks = await (services.health as Health).check();
      const failing = checks.filter((c) => !c.ok);
      if (failing.length) {
        throw new AppError(503, 'NOT_READY', `Not ready: ${failing.map((c) => c.name).join(', ')}`, {
          details: { failing: failing.map((c) => ({ name: c.name, error: c.error })), retry_after: 5 },
          headers: { 'Retry-After': '5' },
        });
      }
      return { status: 'ok', checks };
    },
  },
});
