/**
 * `errorFormatPaths`: a plugin claims a path prefix for one of the error formats, so a 404 for a path under it that
 * matches no operation is rendered in that format, unless another plugin's operations use that first segment.
 * The HTTP behaviour is proven with the OpenAI SDK in test/ai/openai.test.ts; this is the rule itself.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ErrorRenderer } from '../../kernel/http/errorFormat.ts';
import { unmatchedFormats } from '../../kernel/http/unmatchedFormat.ts';

const test = suite('kernel: error formats for unmatched paths (errorFormatPaths)');
const probe: ErrorRenderer = (e) => ({ body: { probe: e.code } });
const formats = new Map([['probe', probe]]);
const operations = [
  { plugin: 'claimant', path: '/v1/things' },
  { plugin: 'claimant', path: '/v1/things/{id}' },
  { plugin: 'notes', path: '/v1/notes/{id}' },
  { plugin: 'other', path: '/api/{tenant}/x' },
];

test('under the prefix: the claimant\'s format, except below a segment another plugin uses', () => {
  const of = unmatchedFormats([{ name: 'claimant', errorFormatPaths: { '/v1': 'probe' } }], formats, operations)!;
  for (const path of ['/v1/nowhere', '/v1/things/1/extra', '/v1', '/v1/']) assert.is(of(path), probe, path);
  for (const path of ['/v1/notes/1/extra', '/v1/notes', '/v10/x', '/other', '/']) assert.is(of(path), undefined, path);
});

test('a parameter right below the prefix in another plugin\'s path leaves every miss there to the deployment', () => {
  const of = unmatchedFormats([{ name: 'claimant', errorFormatPaths: { '/api': 'probe' } }], formats, operations)!;
  assert.is(of('/api/anything'), undefined);
});

test('no claim: no hook; bad claims fail the boot', () => {
  assert.is(unmatchedFormats([{ name: 'a' }], formats, operations), undefined);
  assert.throws(() => unmatchedFormats([{ name: 'a', errorFormatPaths: { '/v1': 'nope' } }], formats, []),
    /no enabled plugin registers/);
  assert.throws(() => unmatchedFormats([{ name: 'a', errorFormatPaths: { 'v1/': 'probe' } }], formats, []),
    /must be a \/path/);
  assert.throws(() => unmatchedFormats([{ name: 'a', errorFormatPaths: { '/v1': 'probe' } },
    { name: 'b', errorFormatPaths: { '/v1': 'probe' } }], formats, []), /claimed for errors by both a and b/);
});

test.run();
