// `npm run lint` (run by `npm test` after the type check, and so by CI): eslint's and
// typescript-eslint's recommended rules, tuned below so the tree passes, and lines <= 120.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

// Long lines left until the issue-8 merge: these files are being edited on other branches right now,
// so they were not re-wrapped on this one. After merging, shrink the list: drop a file, run
// `npm run wrap-lines -- <file>` (scripts/wrapLines.ts), `npm run lint`. New files must pass as they are.
const LONG_LINES_LEFT = [
  // Shared files (every branch may add to them: no reformatting before the merge).
  'kernel/config/schema.ts',
  'kernel/http/app.ts',
  // Named as edited by other issue-8 branches (boot, plugin API, contracts, routes, their tests).
  'kernel/plugin.ts',
  'kernel/http/contracts.ts',
  'kernel/http/routes.ts',
  'test/kernel/plan.test.ts',
  'test/cli.test.ts',
  'test/http/notes.test.ts',
  'test/identity/helpers.ts',
  'test/helpers/kernel.ts',
  // The plugins (identity, oauth, notes, system: moved to the new plugin API on other branches).
  'plugins/identity/accounts.ts',
  'plugins/identity/admin.ts',
  'plugins/identity/api.ts',
  'plugins/identity/apiKeys.ts',
  'plugins/identity/argon2Pool.ts',
  'plugins/identity/audit.ts',
  'plugins/identity/config.ts',
  'plugins/identity/crypto.ts',
  'plugins/identity/emails.ts',
  'plugins/identity/entities.ts',
  'plugins/identity/handlers.ts',
  'plugins/identity/index.ts',
  'plugins/identity/mailFlows.ts',
  'plugins/identity/mfa.ts',
  'plugins/identity/migrations.ts',
  'plugins/identity/oneTime.ts',
  'plugins/identity/policy.ts',
  'plugins/identity/principalCache.ts',
  'plugins/identity/roles.ts',
  'plugins/identity/sessions.ts',
  'plugins/identity/signing.ts',
  'plugins/identity/standing.ts',
  'plugins/identity/throttle.ts',
  'plugins/identity/tokensApi.ts',
  'plugins/identity/views.ts',
  'plugins/notes/activity.ts',
  'plugins/notes/index.ts',
  'plugins/notes/service.ts',
  'plugins/oauth/clients.ts',
  'plugins/oauth/config.ts',
  'plugins/oauth/entities.ts',
  'plugins/oauth/handlers.ts',
  'plugins/oauth/index.ts',
  'plugins/oauth/migrations.ts',
  'plugins/oauth/rfc.ts',
  'plugins/oauth/service.ts',
  'plugins/oauth/store.ts',
  'plugins/system/index.ts',
  // Outside this branch's share of issue 8 (plan, paging, storage, outbox, health, CLI).
  'kernel/events/outbox.ts',
  'kernel/health.ts',
  'kernel/paging.ts',
  'kernel/plan.ts',
  'kernel/storage/fastReads.ts',
  'kernel/storage/migrations.ts',
  'kernel/storage/orm.ts',
  'kernel/storage/schema.ts',
  'scripts/cli.ts',
  'scripts/kernel.ts',
  'scripts/test.ts',
];

const LITERAL_LINE = String.raw`^\s*(\w+: |return |const \w+ = )?(['"\x60]).*\2[,;)]*$`;

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.services/**', 'coverage/**', '**/*.gen.ts', 'test/types/*.fixture.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    plugins: { '@stylistic': stylistic },
    rules: {
      // A line that is one string or template literal (after an optional `key: `, `return ` or
      // `const x = `) cannot be wrapped without splitting the literal, so it may be longer.
      '@stylistic/max-len': ['error', {
        code: 120, ignoreUrls: true, ignoreRegExpLiterals: true, ignorePattern: LITERAL_LINE,
      }],
      // `any` is still common in tests, scripts and adapters; the plugin boundary is checked below.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true,
      }],
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      // kernel/inflight.ts hands `self` to a getter in an object literal.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
    },
  },
  {
    // The plugin boundary, already free of `any`.
    files: ['kernel/index.ts', 'plugins/notes/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    // Still has `any` (11): a warning until the branch removing it (issue 8 point 3) is merged; then 'error'
    // (move it into the list above).
    files: ['kernel/plugin.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'warn' },
  },
  {
    files: LONG_LINES_LEFT,
    rules: { '@stylistic/max-len': 'off' },
  },
  {
    // Unused imports left until the issue-8 merge (identity is being moved to the new plugin API).
    files: ['plugins/identity/emails.ts', 'plugins/identity/handlers.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'warn' },
  },
  {
    // Strips ANSI colour codes from the test runner's output.
    files: ['scripts/test.ts'],
    rules: { 'no-control-regex': 'off' },
  },
);
