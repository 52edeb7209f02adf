import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as wsModule from 'ws';
import { textFrame } from '../../plugins/realtime/frame.ts';

/** ws's own parser (a client's view: it refuses masked frames from a server) reads our prebuilt frames. */
const Receiver = (wsModule as unknown as { Receiver: unknown }).Receiver as new (o: object) => NodeJS.WritableStream & {
  on(e: 'message', f: (data: Buffer, binary: boolean) => void): void; on(e: 'error', f: (err: Error) => void): void };

const s = suite('realtime: prebuilt WebSocket frames');

for (const n of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
  s(`a text of ${n} bytes (the 7-bit, 16-bit and 64-bit length forms) decodes as sent`, async () => {
    const text = 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2);
    const got = new Promise<{ data: Buffer; binary: boolean }>((resolve, reject) => {
      const r = new Receiver({ isServer: false, maxPayload: 1 << 20 });
      r.on('message', (data, binary) => resolve({ data, binary }));
      r.on('error', reject);
      r.write(textFrame(text));
    });
    const { data, binary } = await got;
    assert.is(binary, false, 'a text frame');
    assert.is(data.toString(), text);
  });
}

s.run();
