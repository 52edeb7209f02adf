import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel } from '../helpers/kernel.ts';
import { signedIn } from '../helpers/signedIn.ts';

const s = suite('telemetry: spans for HTTP (named by route template), DB calls and adapter calls');

s('an in-memory exporter records the spans of a request', async () => {
  const k = await signedIn(await startKernel({ telemetry: { enabled: true, exporter: 'memory' } }));
  try {
    const created = await k.request('POST', '/v1/notes', { body: { title: 'traced' } });
    assert.is(created.status, 201);
    await k.request('GET', `/v1/notes/${created.body.id}`);
    const exporter = k.kernel.telemetry!.memoryExporter!;
    const spans = exporter.getFinishedSpans();
    const names = spans.map((sp) => sp.name);
    assert.ok(names.includes('GET /v1/notes/{id}'), names.join(', '));
    assert.ok(names.includes('POST /v1/notes'), names.join(', '));
    const http = spans.find((sp) => sp.name === 'GET /v1/notes/{id}')!;
    assert.is(http.attributes['http.route'], '/v1/notes/{id}');
    assert.is(http.attributes['http.response.status_code'], 200);
    const db = spans.filter((sp) => sp.name === 'db.query');
    assert.ok(db.length >= 2, `db spans: ${db.length}`);
    assert.is(db[0].attributes['db.system'], 'sqlite');
    const getTrace = http.spanContext().traceId;
    assert.ok(db.some((sp) => sp.spanContext().traceId === getTrace), 'a DB span belongs to the request trace');
    assert.ok(names.includes('eventBus.publish'), 'adapter calls are traced by the decorator');
  } finally {
    await k.stop();
  }
});

s.run();
