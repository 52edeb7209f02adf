import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Router } from '@koa/router';
import { RouteTable } from '../../kernel/http/routeTable.ts';

const s = suite('http: the route table picks what @koa/router picks, or leaves the path to it');

/** Registration order matters: an earlier template wins, as in the router. */
const TEMPLATES: Array<[string, string]> = [
  ['GET', '/v1/notes/export'],
  ['GET', '/v1/notes/:id'],
  ['PATCH', '/v1/notes/:id'],
  ['DELETE', '/v1/notes/:noteId'],
  ['GET', '/v1/Users/:id'],
  ['GET', '/v1/users/me'],
  ['GET', '/v1/users/:userId/notes/:noteId'],
  ['POST', '/v1/:plugin/items'],
  ['GET', '/v1/files/:name.json'],
  ['GET', '/health'],
  ['GET', '/v1/a-b/:x_y'],
];

function routerOf(): Router {
  const router = new Router();
  for (const [method, path] of TEMPLATES) {
    router.register(path, [method], () => undefined, { name: `${method} ${path}` });
  }
  return router;
}

/** The router's answer: the first layer matching path and method, and the params it would set. */
function routerAnswer(router: Router, method: string, path: string) {
  const layer = router.match(path, method).pathAndMethod.find((l) => l.methods.length > 0);
  if (!layer) return undefined;
  return { name: layer.name, params: layer.params(path, layer.captures(path), {}) };
}

const SEGMENTS = [
  'v1', 'V1', 'notes', 'NOTES', 'Notes', 'export', 'EXPORT', 'users', 'Users', 'me', 'ME', 'items', 'files',
  'x.json', 'a-b', 'health', 'Health', '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 'abc', '%41bc', '%E0%A4%A',
  'a%2Fb', '', 'K', '\u212a', 'ſ', 'é', '..', '.', ' ', 'a b',
];
const METHODS = ['GET', 'HEAD', 'PATCH', 'DELETE', 'POST', 'PUT'];

s('random paths: the same layer and the same params whenever the table answers', () => {
  const router = routerOf();
  const table = new RouteTable(router);
  let seed = 7; // mulberry32: a fixed sequence, the same paths on every run
  const next = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
  };
  let answered = 0;
  for (let i = 0; i < 20000; i++) {
    // Half from a template (its literals, sometimes swapped; random values for its params), half random.
    const template = TEMPLATES[next(TEMPLATES.length)][1].split('/').slice(1);
    const parts = next(2)
      ? template.map((t) => (t.startsWith(':') || next(6) === 0 ? SEGMENTS[next(SEGMENTS.length)] : t))
      : Array.from({ length: 1 + next(5) }, () => SEGMENTS[next(SEGMENTS.length)]);
    const path = '/' + parts.join('/') + (next(10) === 0 ? '/' : '');
    const method = METHODS[next(METHODS.length)];
    const hit = table.match(method, path);
    if (!hit) continue;
    answered++;
    const expected = routerAnswer(router, method, path);
    assert.ok(expected, `${method} ${path}: the table found ${hit.layer.name}, the router nothing`);
    assert.is(hit.layer.name, expected.name, `${method} ${path}`);
    assert.equal(hit.params, expected.params, `${method} ${path}`);
  }
  assert.ok(answered > 2000, `the table answered ${answered} of 20000`);
});

s('the common spellings are answered by the table, with decoded params', () => {
  const router = routerOf();
  const table = new RouteTable(router);
  const id = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
  assert.is(table.match('GET', `/v1/notes/${id}`)?.layer.name, 'GET /v1/notes/:id');
  assert.is(table.match('HEAD', `/v1/notes/${id}`)?.layer.name, 'GET /v1/notes/:id');
  assert.equal(table.match('DELETE', `/v1/notes/${id}`)?.params, { noteId: id });
  assert.equal(table.match('GET', '/v1/notes/a%2Fb')?.params, { id: 'a/b' });
  assert.equal(table.match('GET', '/v1/notes/%E0%A4%A')?.params, { id: '%E0%A4%A' }, 'a bad escape stays as sent');
  assert.is(table.match('GET', '/v1/notes/export')?.layer.name, 'GET /v1/notes/export', 'earlier template first');
  assert.equal(table.match('GET', '/v1/users/u1/notes/n1')?.params, { userId: 'u1', noteId: 'n1' });
});

s('case variants, trailing slashes, empty segments, complex templates and misses go to the router', () => {
  const table = new RouteTable(routerOf());
  for (const [method, path] of [
    ['GET', '/v1/notes/EXPORT'], // the router's case-insensitive match picks /v1/notes/export
    ['GET', '/v1/users/x'], // /v1/Users/:id matches it case-insensitively
    ['GET', '/V1/notes/x'],
    ['GET', '/v1/notes/x/'],
    ['GET', '/v1//x'],
    ['GET', '/v1/files/x.json'],
    ['PUT', '/v1/notes/x'],
    ['GET', '/v1/nothing/here'],
    ['GET', 'v1/notes/x'],
  ]) assert.is(table.match(method, path), undefined, `${method} ${path}`);
});

s.run();
