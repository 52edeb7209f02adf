/** Server-sent events off a byte stream (the WHATWG parsing rules: `event:`, `data:` lines, blank line ends one). */
export interface SseEvent {
  event: string;
  data: string;
}

export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  const flush = (): SseEvent | undefined => {
    const out = data.length ? { event: event || 'message', data: data.join('\n') } : undefined;
    event = '';
    data = [];
    return out;
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    // Vendors end lines with LF: without a CR in the buffer, indexOf finds the same line end as the regex, cheaper.
    const lfOnly = buffer.indexOf('\r') < 0;
    let nl: number;
    while ((nl = lfOnly ? buffer.indexOf('\n') : buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A CR at the end of a chunk may be the first half of a CRLF: wait for the next chunk.
      if (nl === buffer.length - 1 && buffer[nl] === '\r') break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        const out = flush();
        if (out) yield out;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
  }
  buffer += decoder.decode();
  buffer = buffer.replace(/\r$/, '');
  if (buffer) {
    // A last line without its newline: handled like the spec's end of stream (dispatch what is complete).
    if (buffer.startsWith('data:')) data.push(buffer.slice(5).replace(/^ /, ''));
  }
  const out = flush();
  if (out) yield out;
}
