/**
 * What the composition root (CLI) may do with identity, given the plugin's container.
 * Plugins that need identity use the security schemes and events, not this module.
 */
import { AuditLog } from './audit.ts';
import { AccountService } from './accounts.ts';
import { SessionService } from './sessions.ts';
import type { UserRow } from './entities.ts';

function accountsFor(c: any) {
  const em = c.orm.em.fork();
  const audit = new AuditLog(em);
  // Events join this fork's unit of work, so they are stored with the change they announce.
  const publish = c.publishIn(em);
  const sessions = new SessionService(em, c.cache, c.clock, c.signing, audit, publish, c.config);
  return { em, accounts: new AccountService(em, c.clock, audit, c.throttle, sessions, c.roles, publish, c.config) };
}

/** Creates a super_admin, or promotes the existing account with that email. Returns its id. */
export async function createAdmin(c: any, email: string, password: string, name = 'Administrator'): Promise<{ id: string; created: boolean }> {
  const { em, accounts } = accountsFor(c);
  const existing = (await em.findOne('IdentityUser', { email: email.trim().toLowerCase() })) as UserRow | null;
  if (existing) {
    existing.role = 'super_admin';
    await em.flush();
    return { id: existing.id, created: false };
  }
  const user = await accounts.register({ name, email, password }, { ip: null, userAgent: 'cli' }, { role: 'super_admin', verified: true });
  return { id: user.id, created: true };
}

export async function ensureBootstrapAdmin(c: any): Promise<void> {
  const { email, password } = c.config.bootstrapAdmin ?? {};
  if (!email || !password) return;
  const { em } = accountsFor(c);
  if (await em.count('IdentityUser', { email: email.trim().toLowerCase() })) return;
  const { id } = await createAdmin(c, email, password);
  c.logger.info({ userId: id }, 'bootstrap admin created');
}
