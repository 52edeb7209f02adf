// `npm run lint` (run by `npm test` after the type check, and so by CI): eslint's and
// typescript-eslint's recommended rules, tuned below so the tree passes, and lines <= 120.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

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
    // The plugin boundary and the plugins: no `any`.
    files: ['kernel/index.ts', 'kernel/plugin.ts', 'kernel/types/**', 'kernel/storage/records.ts', 'plugins/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    // Strips ANSI colour codes from the test runner's output.
    files: ['scripts/test.ts'],
    rules: { 'no-control-regex': 'off' },
  },
);
