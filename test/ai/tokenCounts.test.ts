import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenCounts } from '../../plugins/ai/tokenCounts.ts';

const test = suite('ai gateway: token counts of long texts are remembered per model, bounded');

test('a long text is tokenized once per model; short ones every time; the oldest go past the bound', () => {
  const counts = new TokenCounts(10, 100);
  let calls = 0;
  const tokenize = (t: string) => { calls++; return Math.ceil(t.length / 3); };
  const long = 'x'.repeat(60);
  assert.is(counts.count('a', long, tokenize), 20);
  assert.is(counts.count('a', `${'x'.repeat(30)}${'x'.repeat(30)}`, tokenize), 20, 'equal text, another string');
  assert.is(calls, 1);
  counts.count('b', long, tokenize);
  assert.is(calls, 2, 'another model counts for itself');
  counts.count('a', 'short', tokenize);
  counts.count('a', 'short', tokenize);
  assert.is(calls, 4, 'short texts are not kept');
  counts.count('a', 'y'.repeat(60), tokenize); // 180 characters kept > 100: the two oldest go
  counts.count('a', long, tokenize);
  assert.is(calls, 6, 'evicted, counted again');
  counts.count('a', 'z'.repeat(500), tokenize);
  counts.count('a', 'z'.repeat(500), tokenize);
  assert.is(calls, 8, 'a text above the bound is never kept');
});

test.run();
