import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { camelToSnake, snakeToCamel, documentForCasing, planFor, translate } from '../../kernel/http/casing.ts';

const s = suite('casing: names, the wire document and precomputed key plans');

s('camelCase <-> snake_case', () => {
  assert.is(camelToSnake('refreshToken'), 'refresh_token');
  assert.is(camelToSnake('userID'), 'user_id');
  assert.is(camelToSnake('sha256Hash'), 'sha256_hash');
  assert.is(camelToSnake('HTTPServer'), 'http_server');
  assert.is(camelToSnake('already_snake'), 'already_snake');
  assert.is(snakeToCamel('tokens_used'), 'tokensUsed');
  assert.is(snakeToCamel('created_at'), 'createdAt');
});

const doc: any = {
  openapi: '3.1.0',
  info: { title: 't', version: '1' },
  paths: {
    '/trees/{treeId}': {
      parameters: [{ name: 'treeId', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        parameters: [
          { name: 'maxDepth', in: 'query', schema: { type: 'integer' } },
          { name: 'X-Trace-Id', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'ok',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
          },
        },
      },
    },
  },
  components: {
    schemas: {
      Node: {
        type: 'object',
        required: ['nodeName'],
        examples: [{ nodeName: 'kept as written' }],
        properties: {
          nodeName: { type: 'string' },
          childNodes: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
          extraData: { type: 'object', additionalProperties: true, 'x-casing': 'preserve' },
        },
      },
    },
  },
};

s(
  'the wire document renames properties, required, path and query names; not headers, examples or preserved maps',
  () => {
    const wire: any = documentForCasing(doc, 'snake');
    const node = wire.components.schemas.Node;
    assert.equal(Object.keys(node.properties), ['node_name', 'child_nodes', 'extra_data']);
    assert.equal(node.required, ['node_name']);
    assert.equal(node.examples, [{ nodeName: 'kept as written' }]);
    const item = wire.paths['/trees/{tree_id}'];
    assert.is(item.parameters[0].name, 'tree_id');
    assert.equal(
      item.get.parameters.map((p: any) => p.name),
      ['max_depth', 'X-Trace-Id'],
    );
    assert.is(doc.components.schemas.Node.properties.nodeName.type, 'string', 'the canonical document is not changed');
  },
);

s('a recursive schema makes a cyclic plan; translation follows it both ways and keeps preserved maps', () => {
  const out = planFor(doc, { $ref: '#/components/schemas/Node' }, 'out');
  const canonical = {
    nodeName: 'a',
    childNodes: [{ nodeName: 'b', childNodes: [{ nodeName: 'c', extraData: { someKey: 1 } }] }],
    otherField: { innerKey: 2 },
  };
  const wire = translate(canonical, out, 'out') as any;
  assert.equal(wire, {
    node_name: 'a',
    child_nodes: [{ node_name: 'b', child_nodes: [{ node_name: 'c', extra_data: { someKey: 1 } }] }],
    other_field: { inner_key: 2 },
  });
  const back = translate(wire, planFor(doc, { $ref: '#/components/schemas/Node' }, 'in'), 'in');
  assert.equal(back, canonical);
});

s.run();
