import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Context, Next } from 'koa';
import { AppError } from '../errors.ts';
import { BootError } from '../config/problems.ts';
import type { KernelConfig } from '../config/schema.ts';
import type { Registry } from 'prom-client';

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

/**
 * `GET <metrics.path>` in Prometheus text format. Who may read it:
 * - `metrics.allowCidrs` set: only clients in those networks (else 403);
 * - `metrics.token` set: only with `Authorization: Bearer <token>` (else 401);
 * - both: both; neither: loopback clients only.
 * The client address is the socket's unless `server.trustProxy`.
 */
export function metricsRoute(
  registry: Registry, config: KernelConfig['metrics'], servedPaths: string[],
): (ctx: Context, next: Next) => Promise<void> {
  if (servedPaths.includes(config.path)) {
    throw new BootError([`metrics.path ${config.path}: also a path of the contract; choose another`]);
  }
  const token = config.token ? digest(config.token) : undefined;
  const cidrs = config.allowCidrs.length ? config.allowCidrs : token ? [] : LOOPBACK;
  const allowed = cidrs.length ? networkList(cidrs) : undefined;

  return async function metrics(ctx, next) {
    if (ctx.path !== config.path || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    if (allowed && !allowed(ctx.ip)) throw new AppError(403, 'FORBIDDEN', 'Metrics are not served to this address');
    if (token) {
      const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
      if (!match || !timingSafeEqual(digest(match[1]), token)) {
        throw new AppError(401, 'UNAUTHORIZED', 'A valid metrics bearer token is required', {
          headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' },
        });
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    // prom-client writes NaN as `Nan`; the text format spells it `NaN`.
    ctx.body = (await registry.metrics()).replace(/ Nan$/gm, ' NaN');
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A matcher for CIDRs (or single addresses); a bad entry fails the boot naming it. */
export function networkList(cidrs: string[]): (ip: string) => boolean {
  const list = new BlockList();
  const problems: string[] = [];
  cidrs.forEach((cidr, i) => {
    const [address, bits, extra] = cidr.split('/');
    const family = isIP(address);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    const maxBits = family === 6 ? 128 : 32;
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > maxBits) {
      problems.push(`metrics.allowCidrs[${i}]: "${cidr}" is not an IPv4 or IPv6 address or CIDR`);
      return;
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  });
  if (problems.length) throw new BootError(problems);
  return (ip) => {
    // An IPv4 client on a dual-stack socket appears as ::ffff:a.b.c.d.
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}
