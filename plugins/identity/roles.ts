import type { EntityManager } from '@mikro-orm/core';
import type { RoleRow } from './entities.ts';

export interface RoleDefinition {
  name: string;
  level: number;
  permissions: string[];
  description: string;
  builtIn: boolean;
}

/** Permissions every signed-in user has; plugins add theirs through `permissions[].roles`. */
export const USER_PERMISSIONS = ['profile:read', 'profile:write', 'apikeys:manage', 'sessions:manage'];
export const ADMIN_PERMISSIONS = [
  'admin:users:read',
  'admin:users:write',
  'admin:roles',
  'admin:audit',
  'admin:impersonate',
];

/**
 * Built-in roles, ordered by level. Nobody can grant a role whose level is above their own.
 * `super_admin` holds `*`.
 */
export function builtInRoles(pluginPermissions: Array<{ name: string; roles?: string[] }>): RoleDefinition[] {
  const grant = (role: string) => pluginPermissions.filter((p) => p.roles?.includes(role)).map((p) => p.name);
  const user = [...USER_PERMISSIONS, ...grant('user')];
  const premium = [...user, ...grant('premium')];
  const moderator = [...premium, 'moderation:review', 'admin:users:read:public', ...grant('moderator')];
  return [
    { name: 'user', level: 10, permissions: user, description: 'A signed-in account', builtIn: true },
    { name: 'premium', level: 20, permissions: premium, description: 'A paying account', builtIn: true },
    { name: 'moderator', level: 30, permissions: moderator, description: 'Reviews content', builtIn: true },
    {
      name: 'admin',
      level: 40,
      permissions: [...moderator, ...ADMIN_PERMISSIONS, ...grant('admin')],
      description: 'Manages users and roles',
      builtIn: true,
    },
    { name: 'super_admin', level: 50, permissions: ['*'], description: 'Everything', builtIn: true },
  ];
}

/** Built-in plus custom roles (stored in identity_roles), cached in memory and reloaded after changes. */
export class RoleCatalog {
  private custom = new Map<string, RoleDefinition>();
  private readonly builtIn: Map<string, RoleDefinition>;

  /** `enabled`: the deployment's built-in roles (`plugins.identity.roles`); all five when absent. */
  constructor(pluginPermissions: Array<{ name: string; roles?: string[] }>, enabled?: string[]) {
    const roles = builtInRoles(pluginPermissions).filter((r) => !enabled || enabled.includes(r.name));
    this.builtIn = new Map(roles.map((r) => [r.name, r]));
  }

  /** The highest built-in role (super_admin by default; admin where a deployment has only user and admin). */
  top(): string {
    return [...this.builtIn.values()].reduce((a, b) => (b.level > a.level ? b : a)).name;
  }

  async load(em: EntityManager): Promise<void> {
    const rows = await em.find<RoleRow>('IdentityRole', {});
    this.custom = new Map(
      rows.map((r) => [
        r.name,
        { name: r.name, level: r.level, permissions: r.permissions, description: r.description, builtIn: false },
      ]),
    );
  }

  get(name: string): RoleDefinition | undefined {
    return this.builtIn.get(name) ?? this.custom.get(name);
  }

  all(): RoleDefinition[] {
    return [...this.builtIn.values(), ...this.custom.values()].sort(
      (a, b) => a.level - b.level || a.name.localeCompare(b.name),
    );
  }

  isBuiltIn(name: string): boolean {
    return this.builtIn.has(name);
  }

  permissionsOf(role: string): string[] {
    return this.get(role)?.permissions ?? [];
  }

  levelOf(role: string): number {
    return this.get(role)?.level ?? 0;
  }
}
