import { assertCredentialAllowed, defineHandlers, errors, reply, type RequestContext } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import type { IdentityServices } from './services.ts';
import type { AuditRow, SessionRow, UserRow } from './entities.ts';
import type { ClientInfo } from './sessions.ts';
import { DEFAULT_SETTINGS } from './accounts.ts';
import { FORGOT_PASSWORD_REPLY } from './emails.ts';
import { auditViewFor, publicProfile, sessionView, userView } from './views.ts';
import type { UserViewCache } from './principalCache.ts';
import { credentials } from './credentials.ts';

const client = (ctx: RequestContext<unknown>): ClientInfo => ({
  ip: ctx.koa.ip || null,
  userAgent: ctx.koa.get('user-agent') || null,
});
const me = (ctx: RequestContext<unknown>) => ctx.principal!.id;
const actor = (ctx: RequestContext<unknown>) => ({
  id: ctx.principal!.id,
  role: String(ctx.principal!.role),
  permissions: ctx.principal!.permissions,
});

export const handlers = defineHandlers<Operations, IdentityServices>({
  'identity.jwks': (_req, { services, koa }) => {
    koa.set('Cache-Control', 'public, max-age=300');
    return services.signing.jwks();
  },

  'identity.register': async ({ body }, ctx) => {
    // The verification mail goes out from the identity.user.registered event (mailFlows.ts).
    const user: UserRow = await ctx.services.accounts.register(body, client(ctx));
    return reply(201, userView(user));
  },

  'identity.login': async ({ body }, ctx) => {
    const email = body.email ?? body.username;
    if (!email)
      throw errors.validation([{ field: 'body.email', code: 'required', message: 'is required (or username)' }]);
    const user: UserRow = await ctx.services.accounts.authenticate(email, body.password, client(ctx));
    if (user.mfaEnabled) return ctx.services.mfa.challenge(user);
    return ctx.services.accounts.startSession(user, client(ctx));
  },

  'identity.verifyEmail': async ({ body }, ctx) => {
    await ctx.services.emails.verify(body.token, client(ctx));
    return { message: 'Email address verified.' };
  },
  'identity.resendVerification': async ({ body }, ctx) => {
    await ctx.services.emails.requestVerification(body.email);
    return reply(202, { message: 'If this address has an unverified account, a new link has been sent.' });
  },
  'identity.forgotPassword': async ({ body }, ctx) => {
    await ctx.services.emails.requestReset(body.email, client(ctx));
    return reply(202, FORGOT_PASSWORD_REPLY);
  },
  'identity.resetPassword': async ({ body }, ctx) => {
    await ctx.services.emails.reset(body.token, body.newPassword, client(ctx), { keepApiKeys: body.keepApiKeys });
    return { message: 'Password changed. Sign in with the new password.' };
  },

  'identity.mfaSetup': (_req, ctx) => ctx.services.mfa.setup(me(ctx)),
  'identity.mfaConfirm': ({ body }, ctx) => ctx.services.mfa.confirm(me(ctx), body.code, client(ctx)),
  'identity.mfaDisable': async ({ body }, ctx) => {
    await ctx.services.mfa.disable(me(ctx), body.password, body.code, client(ctx));
    return reply(204);
  },
  'identity.mfaVerify': ({ body }, ctx) => ctx.services.mfa.verify(body, client(ctx)),
  'identity.mfaStepUp': ({ body }, ctx) =>
    ctx.services.mfa.stepUp(me(ctx), String(ctx.principal!.sessionId), body.code, client(ctx)),

  'identity.refresh': ({ body }, ctx) => ctx.services.sessions.refresh(body.refreshToken, client(ctx)),

  'identity.logout': async (_req, ctx) => {
    await ctx.services.sessions.end(me(ctx), String(ctx.principal!.sessionId), 'logout');
    return reply(204);
  },

  'identity.listSessions': async (_req, ctx) => ({
    data: (await ctx.services.sessions.list(me(ctx))).map((s: SessionRow) =>
      sessionView(s, String(ctx.principal!.sessionId)),
    ),
  }),

  'identity.endSession': async ({ params }, ctx) => {
    await ctx.services.sessions.end(me(ctx), params.id, 'ended_by_user');
    await ctx.services.audit.record(
      { actorId: me(ctx), action: 'auth.session_ended', targetType: 'session', targetId: params.id, ...client(ctx) },
      { flush: true },
    );
    return reply(204);
  },

  'identity.changePassword': ({ body }, ctx) =>
    ctx.services.accounts.changePassword(
      me(ctx),
      ctx.principal!.sessionId as string | undefined,
      body.currentPassword,
      body.newPassword,
      client(ctx),
    ),

  // A hot read: a prepared read (ctx.db), without the service graph, an EntityManager or hydration.
  'identity.me': async (_req, ctx) => {
    const views: UserViewCache = ctx.services.userViews;
    const cached = views.get(me(ctx));
    if (cached) return cached;
    const ticket = views.ticket();
    const user = await ctx.db.findOne<UserRow>('IdentityUser', { id: me(ctx), status: { $ne: 'deleted' } });
    if (!user) throw errors.notFound('User not found');
    const view = userView(user);
    views.set(user.id, view, ticket);
    return view;
  },
  'identity.updateMe': ({ body }, ctx) => {
    // An email change can take the account over (password resets go to the new address): first-party only.
    if (body.email !== undefined) assertCredentialAllowed(ctx.principal!, ['session'], credentials);
    return ctx.services.accounts.updateMe(me(ctx), body, client(ctx), {
      mfaAt: ctx.principal!.mfaAt as number | undefined,
    });
  },
  'identity.undoEmailChange': async ({ body }, ctx) => {
    await ctx.services.emails.undoEmailChange(body.token, client(ctx));
    return {
      message: 'The email change was undone and every session ended. Choose a new password if you did not ask for it.',
    };
  },
  'identity.deleteMe': async ({ body }, ctx) => {
    await ctx.services.accounts.deleteMe(me(ctx), body.password, client(ctx));
    return reply(204);
  },

  'identity.getSettings': async (_req, ctx) => ({
    ...DEFAULT_SETTINGS,
    ...(await ctx.services.accounts.get(me(ctx))).settings,
  }),
  'identity.putSettings': async ({ body }, ctx) => {
    const user: UserRow = await ctx.services.accounts.get(me(ctx));
    user.settings = { ...DEFAULT_SETTINGS, ...body };
    await ctx.em.flush();
    return user.settings;
  },

  'identity.export': async (_req, ctx) => {
    const id = me(ctx);
    const user: UserRow = await ctx.services.accounts.get(id);
    const audit = await ctx.em.find<AuditRow>(
      'IdentityAudit',
      { $or: [{ actorId: id }, { targetId: id }] },
      { orderBy: { createdAt: 'asc' } },
    );
    return {
      user: userView(user),
      settings: user.settings,
      sessions: (await ctx.services.sessions.list(id)).map((s: SessionRow) => sessionView(s)),
      apiKeys: await ctx.services.apiKeys.list(id),
      auditLog: audit.map((a) => auditViewFor(a, id)),
      exportedAt: new Date().toISOString(),
    };
  },

  'identity.listApiKeys': async (_req, ctx) => ({ data: await ctx.services.apiKeys.list(me(ctx)) }),
  'identity.createApiKey': async ({ body }, ctx) =>
    reply(
      201,
      await ctx.services.apiKeys.create(await ctx.services.accounts.get(me(ctx)), ctx.principal!, body, client(ctx)),
    ),
  'identity.revokeApiKey': async ({ params }, ctx) => {
    await ctx.services.apiKeys.revoke(me(ctx), params.id, client(ctx));
    return reply(204);
  },
  'identity.rotateApiKey': async ({ params }, ctx) =>
    reply(
      201,
      await ctx.services.apiKeys.rotate(
        await ctx.services.accounts.get(me(ctx)),
        ctx.principal!,
        params.id,
        client(ctx),
      ),
    ),

  'identity.publicProfile': async ({ params }, ctx) => {
    const user: UserRow = await ctx.services.accounts.get(params.id);
    if (user.settings?.privacy && (user.settings.privacy as { profilePublic?: boolean }).profilePublic === false)
      throw errors.notFound('User not found');
    return publicProfile(user);
  },

  'identity.adminListUsers': ({ query }, ctx) => ctx.services.admin.listUsers(query),
  'identity.adminCreateUser': async ({ body }, ctx) =>
    reply(201, await ctx.services.admin.createUser(actor(ctx), body, client(ctx))),
  'identity.adminGetUser': async ({ params }, ctx) => userView(await ctx.services.accounts.get(params.id)),
  'identity.adminUpdateUser': ({ params, body }, ctx) =>
    ctx.services.admin.updateUser(actor(ctx), params.id, body, client(ctx)),
  'identity.adminDeleteUser': async ({ params }, ctx) => {
    await ctx.services.admin.deleteUser(actor(ctx), params.id, client(ctx));
    return reply(204);
  },
  'identity.adminImpersonate': ({ params }, ctx) => ctx.services.admin.impersonate(actor(ctx), params.id, client(ctx)),
  'identity.adminListRoles': (_req, ctx) => ({ data: ctx.services.roles.all() }),
  'identity.adminCreateRole': async ({ body }, ctx) =>
    reply(201, await ctx.services.admin.createRole(actor(ctx), body, client(ctx))),
  'identity.adminUpdateRole': ({ params, body }, ctx) =>
    ctx.services.admin.updateRole(actor(ctx), params.name, body, client(ctx)),
  'identity.adminDeleteRole': async ({ params }, ctx) => {
    await ctx.services.admin.deleteRole(actor(ctx), params.name, client(ctx));
    return reply(204);
  },
  'identity.adminAuditLogs': ({ query }, ctx) => ctx.services.admin.auditLogs(query),
  'identity.adminRotateSigningKey': async (_req, ctx) => {
    const kid = await ctx.services.signing.rotate();
    await ctx.services.audit.record(
      {
        actorId: me(ctx),
        action: 'admin.signing_key_rotated',
        targetType: 'signing_key',
        targetId: kid,
        ...client(ctx),
      },
      { flush: true },
    );
    return reply(201, { kid });
  },
});

