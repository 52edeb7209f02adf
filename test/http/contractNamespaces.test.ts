import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin } from '../../kernel/index.ts';
import { startTestKernel } from '../kit/index.ts';
import { namespaceComponents } from '../../kernel/http/namespaces.ts';

const s = suite("contracts: each plugin's components get their own namespace, so two plugins' Message schemas coexist");

/** A plugin whose contract defines `components.schemas.Message` with the field `field`. */
function messenger(name: string, field: string) {
  const plugin = definePlugin({
    name, version: '1.0.0',
    handlers: { [`${name}.say`]: () => ({ [field]: `from ${name}` }) },
  });
  const contract = {
    openapi: '3.1.0',
    info: { title: name, version: '1' },
    paths: {
      [`/${name}`]: {
        get: {
          operationId: `${name}.say`,
          responses: {
            200: {
              description: 'ok',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Message' } } },
            },
            404: { $ref: '#/components/responses/NotFound' }, // common.yaml's: not renamed
          },
        },
      },
    },
    components: {
      schemas: {
        Message: {
          type: 'object',
          additionalProperties: false,
          required: [field],
          properties: { [field]: { $ref: '#/components/schemas/Text' } },
        },
        Text: { type: 'string' },
      },
    },
  };
  return { plugin, contract };
}

s(
  'two plugins both define Message: both are served, prefixed, and each operation validates against its own',
  async () => {
    const a = messenger('alpha', 'message');
    const b = messenger('beta', 'text');
    const k = await startTestKernel({
      plugins: [a.plugin, b.plugin],
      contracts: { alpha: a.contract, beta: b.contract },
    });
    try {
      const schemas = k.kernel.plan.contract.document.components!.schemas!;
      assert.ok(schemas['alpha.Message'] && schemas['beta.Message'], Object.keys(schemas).join());
      assert.equal((schemas['beta.Message'] as any).properties.text, { $ref: '#/components/schemas/beta.Text' });
      assert.is(schemas.Message, undefined);
      const op = k.kernel.plan.contract.document.paths!['/v1/alpha']!.get!;
      assert.equal((op.responses as any)['200'].content['application/json'].schema, {
        $ref: '#/components/schemas/alpha.Message',
      });
      assert.equal((op.responses as any)['404'], { $ref: '#/components/responses/NotFound' });
      // Responses are validated against the contract: each plugin's answer matches only its own Message.
      const [alpha, beta] = await Promise.all([k.get('/v1/alpha'), k.get('/v1/beta')]);
      assert.equal([alpha.status, alpha.body], [200, { message: 'from alpha' }]);
      assert.equal([beta.status, beta.body], [200, { text: 'from beta' }]);
    } finally {
      await k.stop();
    }
  },
);

s('401 and 403 are common responses every contract refers to', async () => {
  const k = await startTestKernel();
  try {
    const responses = k.kernel.plan.contract.document.components!.responses!;
    assert.ok(responses.Unauthorized && responses.Forbidden);
    assert.is(responses['identity.Unauthorized'], undefined);
    const served = JSON.stringify(k.kernel.plan.contract.document.paths);
    assert.match(served, '"#/components/responses/Unauthorized"');
    assert.not.match(served, /#\/components\/responses\/identity\.(Unauthorized|Forbidden)/);
  } finally {
    await k.stop();
  }
});

s('refs into a renamed component, and discriminator mappings, are rewritten; refs to shared names are not', () => {
  const doc = namespaceComponents(
    {
      components: {
        schemas: {
          Pet: {
            oneOf: [{ $ref: '#/components/schemas/Cat' }],
            discriminator: { propertyName: 'kind', mapping: { cat: '#/components/schemas/Cat' } },
          },
          Cat: { type: 'object', properties: { name: { type: 'string' } } },
          Name: { $ref: '#/components/schemas/Cat/properties/name' },
          Paged: { properties: { pagination: { $ref: '#/components/schemas/Pagination' } } },
        },
        securitySchemes: { petKey: { type: 'apiKey', in: 'header', name: 'x-pet' } },
      },
    },
    'pets',
  );
  const schemas = doc.components!.schemas as Record<string, any>;
  assert.equal(Object.keys(schemas), ['pets.Pet', 'pets.Cat', 'pets.Name', 'pets.Paged']);
  assert.equal(schemas['pets.Pet'].oneOf, [{ $ref: '#/components/schemas/pets.Cat' }]);
  assert.is(schemas['pets.Pet'].discriminator.mapping.cat, '#/components/schemas/pets.Cat');
  assert.is(schemas['pets.Name'].$ref, '#/components/schemas/pets.Cat/properties/name');
  assert.is(schemas['pets.Paged'].properties.pagination.$ref, '#/components/schemas/Pagination');
  assert.ok((doc.components as any).securitySchemes.petKey, 'security schemes keep their names');
});

s.run();
