/**
 * `npm run wrap-lines -- <file>...`: re-wraps only the statements holding a line that `npm run lint`
 * finds longer than 120 characters, with prettier's range formatting (bottom-up, so earlier
 * offsets stay valid). Everything else in the file is left as it is: no behaviour change, no renames.
 * Lines it cannot fix (a long comment, a long literal inside an expression) are listed for a hand edit.
 * Used to shrink LONG_LINES_LEFT in eslint.config.js: drop a file from the list, run this on it, lint.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ESLint } from 'eslint';
import * as prettier from 'prettier';

const PRETTIER: prettier.Options = {
  singleQuote: true, printWidth: 120, trailingComma: 'all', arrowParens: 'always', semi: true,
};

/** Line numbers (1-based) that the lint config's max-len rule flags, with the rule forced on. */
async function longLines(eslint: ESLint, file: string): Promise<number[]> {
  const [result] = await eslint.lintFiles([file]);
  const lines = result.messages.filter((m) => m.ruleId === '@stylistic/max-len').map((m) => m.line);
  return [...new Set(lines)].sort((a, b) => b - a);
}

async function wrap(file: string, lines: number[]): Promise<string> {
  let text = readFileSync(file, 'utf8');
  const parser = /\.(mjs|js)$/.test(file) ? 'babel' : 'typescript';
  for (const line of lines) {
    const src = text.split('\n');
    const rangeStart = src.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    const rangeEnd = rangeStart + src[line - 1].length;
    text = await prettier.format(text, { ...PRETTIER, parser, rangeStart, rangeEnd });
  }
  return text;
}

const files = process.argv.slice(2);
if (!files.length) {
  process.stderr.write('usage: npm run wrap-lines -- <file>...\n');
  process.exit(2);
}
// The file may be in LONG_LINES_LEFT: turn the rule back on (a severity alone keeps the config's options).
const eslint = new ESLint({ overrideConfig: [{ files: ['**/*'], rules: { '@stylistic/max-len': 'error' } }] });
let left = 0;
for (const file of files) {
  const before = readFileSync(file, 'utf8');
  const after = await wrap(file, await longLines(eslint, file));
  if (after !== before) writeFileSync(file, after);
  for (const line of await longLines(eslint, file)) {
    left++;
    process.stdout.write(`${file}:${line}: still longer than 120 (wrap by hand)\n`);
  }
}
process.exit(left ? 1 : 0);
