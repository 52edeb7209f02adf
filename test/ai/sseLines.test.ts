import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSse } from '../../adapters/aiProvider/shared/sse.ts';

// parseSse finds LF line ends with indexOf while the buffer holds no CR: the same events as the regex for any mix.
test('SSE: LF-only chunks, then CR and CRLF ends, split anywhere, give the same events', async () => {
  const text = 'data: a\n\ndata: b\r\rdata: c\r\n\r\ndata: d\n\nevent: e\rdata: f\n\r\ndata: g\n\n';
  const want = ['a', 'b', 'c', 'd', 'f', 'g'];
  for (const size of [1, 2, 5, 9, text.length]) {
    const bytes = Buffer.from(text);
    const chunks = (async function* () {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    })();
    const out = [];
    for await (const e of parseSse(chunks)) out.push(e);
    assert.equal(out.map((e) => e.data), want, `chunks of ${size}`);
    assert.is(out[4].event, 'e', `chunks of ${size}`);
  }
});

test.run();
