import { suite } from 'uvu';
import { guarded } from '../helpers/guarded.ts';
import * as assert from 'uvu/assert';
import type { MailMessage, Mailer } from '../../kernel/ports/mailer.ts';
import { uniqueName } from '../helpers/services.ts';

/** A message as the receiving side saw it. Addresses may be bare or `Name <addr>`. */
export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html?: string;
  /** Header names in any case; the suite looks them up case-insensitively. */
  headers: Record<string, string>;
}

export interface MailerUnderTest {
  mailer: Mailer;
  /** Everything delivered so far (in any order). */
  received: () => Promise<ReceivedMail[]>;
  /** The `from` the adapter was configured with, applied when a message has none. */
  defaultFrom: string;
  close(): Promise<void>;
}

/** `Ann <ann@example.com>` → `ann@example.com` (lower-cased: domains are case-insensitive). */
const bare = (mailbox: string) => (/<([^<>]+)>\s*$/.exec(mailbox)?.[1] ?? mailbox).trim().toLowerCase();

const header = (mail: ReceivedMail, name: string) =>
  Object.entries(mail.headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

async function rejects(
  what: string,
  run: () => Promise<unknown>,
  type: new (...args: never[]) => Error = TypeError,
): Promise<void> {
  let result: unknown;
  try {
    result = await run();
  } catch (err) {
    assert.instance(err, type, `${what}: expected a ${type.name}, got ${String(err)}`);
    return;
  }
  assert.unreachable(`${what}: expected a rejection, got ${JSON.stringify(result)}`);
}

export function mailerConformance(name: string, make: () => Promise<MailerUnderTest>): void {
  const test = guarded(suite(`mailer conformance: ${name}`));
  const run = uniqueName('mail');
  let n = 0;
  /** A subject suffix no other test (or run) uses, to pick this test's message out of `received`. */
  const tag = () => `[${run}-${++n}]`;
  // uvu swallows errors thrown by `before` hooks, so the adapter is built lazily by the first test.
  let made: Promise<MailerUnderTest> | undefined;
  const get = () => (made ??= make());

  /**
   * Resolves with the message whose subject ends with `t` once it has been delivered. Delivery
   * is normally complete when send() resolves (and `received()` itself awaits deliveries still
   * being processed); the re-checks, bounded by a deadline, are for transports that finish later.
   */
  async function delivered(t: string, deadlineMs = 5000): Promise<ReceivedMail> {
    const { received } = await get();
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const found = (await received()).filter((m) => m.subject.endsWith(t));
      if (found.length > 1) assert.unreachable(`message ${t} was delivered ${found.length} times`);
      if (found.length === 1) return found[0];
      if (Date.now() > deadline) assert.unreachable(`message ${t} was not delivered within ${deadlineMs} ms`);
      await new Promise<void>((resolve) => setTimeout(resolve, 10));
    }
  }

  async function send(message: MailMessage) {
    const sent = await (await get()).mailer.send(message);
    assert.type(sent?.id, 'string');
    assert.ok(sent.id.length > 0, 'send() returns a non-empty id');
    return sent;
  }

  // Hooks must not throw: uvu reports a suite whose hook throws as passing.
  test.after(async () => {
    const subject = await made?.catch(() => undefined);
    await subject?.close().catch((err) => console.error('close failed:', err));
  });

  test('sends a plain message with from/to/subject/text intact', async () => {
    const t = tag();
    const text = 'Hello,\n\nthis is line two.\nAnd a third with ümlauts – and a long line: ' + 'x'.repeat(200) + '\n';
    await send({ from: 'sender@example.com', to: 'alice@example.com', subject: `Hello ${t}`, text });
    const mail = await delivered(t);
    assert.is(bare(mail.from), 'sender@example.com');
    assert.equal(mail.to.map(bare), ['alice@example.com']);
    assert.is(mail.subject, `Hello ${t}`);
    assert.is(mail.text.trimEnd(), text.trimEnd());
    assert.is(mail.html, undefined);
  });

  test('a unicode subject and body survive', async () => {
    const t = tag();
    const subject = `Réinitialisation – 密码 🔑 ${t}`;
    const text = 'Votre code : 123456 — 密码重置 ✓';
    await send({ to: 'bob@example.com', subject, text });
    const mail = await delivered(t);
    assert.is(mail.subject, subject);
    assert.is(mail.text.trimEnd(), text);
  });

  test('multiple recipients, with display names', async () => {
    const t = tag();
    const to = ['a@example.com', 'Bea Example <b@example.org>', '"Doe, Carl" <c@example.net>'];
    await send({ to, subject: `Many ${t}`, text: 'to all of you' });
    const mail = await delivered(t);
    assert.equal(mail.to.map(bare).sort(), ['a@example.com', 'b@example.org', 'c@example.net']);
  });

  test('an html alternative travels beside the text', async () => {
    const t = tag();
    const html = '<p>Click <a href="https://example.com/reset?token=abc&amp;x=1">here</a> — ok</p>';
    await send({ to: 'html@example.com', subject: `Html ${t}`, text: 'Open https://example.com/reset?token=abc&x=1', html });
    const mail = await delivered(t);
    assert.is(mail.text.trimEnd(), 'Open https://example.com/reset?token=abc&x=1');
    assert.is(mail.html?.trimEnd(), html);
  });

  test('custom headers are sent', async () => {
    const t = tag();
    await send({
      to: 'h@example.com',
      subject: `Headers ${t}`,
      text: 'body',
      headers: { 'X-Entity-Ref-ID': 'ref-42', 'X-Kernel-Test': 'yes ü' },
    });
    const mail = await delivered(t);
    assert.is(header(mail, 'x-entity-ref-id'), 'ref-42');
    assert.is(header(mail, 'X-Kernel-Test'), 'yes ü');
  });

  test('the configured from applies when a message has none', async () => {
    const t = tag();
    const { defaultFrom } = await get();
    await send({ to: 'd@example.com', subject: `Default from ${t}`, text: 'body' });
    const mail = await delivered(t);
    assert.is(bare(mail.from), bare(defaultFrom));
  });

  test('each send returns its own id', async () => {
    const a = await send({ to: 'i@example.com', subject: `Id ${tag()}`, text: 'one' });
    const b = await send({ to: 'i@example.com', subject: `Id ${tag()}`, text: 'two' });
    assert.is.not(a.id, b.id);
  });

  test('concurrent sends are all delivered', async () => {
    const tags = Array.from({ length: 8 }, () => tag());
    await Promise.all(
      tags.map((t, i) => send({ to: `p${i}@example.com`, subject: `Parallel ${t}`, text: `message ${i}` })),
    );
    for (const [i, t] of tags.entries()) {
      const mail = await delivered(t);
      assert.equal(mail.to.map(bare), [`p${i}@example.com`]);
      assert.is(mail.text.trimEnd(), `message ${i}`);
    }
  });

  test('an invalid recipient rejects with a TypeError and sends nothing', async () => {
    const { mailer, received } = await get();
    const before = (await received()).length;
    const t = tag();
    for (const to of [
      'not-an-address',
      'a@',
      '@example.com',
      'a b@example.com',
      'a@example.com, b@example.com',
      'a@exa mple.com',
      'x@example.com\r\nBcc: y@example.com',
      '',
    ]) {
      await rejects(`to ${JSON.stringify(to)}`, () => mailer.send({ to, subject: `Bad ${t}`, text: 'body' }));
    }
    await rejects('one bad recipient among good ones', () =>
      mailer.send({ to: ['ok@example.com', 'nope'], subject: `Bad ${t}`, text: 'body' }),
    );
    await rejects('no recipient', () => mailer.send({ to: [], subject: `Bad ${t}`, text: 'body' }));
    await rejects('bad from', () =>
      mailer.send({ from: 'nobody', to: 'ok@example.com', subject: `Bad ${t}`, text: 'body' }),
    );
    assert.is((await received()).length, before);
  });

  test('a missing subject or text, or a header injection, rejects with a TypeError', async () => {
    const { mailer } = await get();
    const ok = { to: 'ok@example.com', subject: 'fine', text: 'body' };
    await rejects('empty subject', () => mailer.send({ ...ok, subject: '  ' }));
    await rejects('missing subject', () => mailer.send({ ...ok, subject: undefined as unknown as string }));
    await rejects('missing text', () => mailer.send({ ...ok, text: undefined as unknown as string }));
    await rejects('empty text', () => mailer.send({ ...ok, text: '' }));
    await rejects('line break in subject', () => mailer.send({ ...ok, subject: 'a\r\nBcc: evil@example.com' }));
    await rejects('line break in a header', () =>
      mailer.send({ ...ok, headers: { 'X-A': 'v\r\nBcc: evil@example.com' } }),
    );
    await rejects('bad header name', () => mailer.send({ ...ok, headers: { 'X A:': 'v' } }));
    await rejects('reserved header', () => mailer.send({ ...ok, headers: { Bcc: 'evil@example.com' } }));
    await rejects('unknown field', () => mailer.send({ ...ok, bcc: 'evil@example.com' } as MailMessage));
  });

  test.run();
}
