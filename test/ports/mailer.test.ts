import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { isUuidV7 } from '../../kernel/ports/ids.ts';
import { ManualClock, systemClock, type Clock } from '../../kernel/ports/clock.ts';
import type { AdapterContext, JsonSchema } from '../../kernel/ports/adapter.ts';
import { isAppError } from '../../kernel/errors.ts';
import logMailer from '../../adapters/mailer/log.ts';
import smtpMailer from '../../adapters/mailer/smtp.ts';
import { mailerConformance, type ReceivedMail } from './mailer.suite.ts';
import { guarded } from '../helpers/guarded.ts';

/** A pino logger whose lines are kept in `lines` (at every level). */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { logger: pino({ level: 'trace' }, sink), lines };
}

const context = (clock: Clock = systemClock, logger = pino({ level: 'silent' })): AdapterContext => ({
  logger,
  clock,
  serviceName: 'kernel-test',
});

// ---------------------------------------------------------------------------------------------
// A real SMTP server (smtp-server) on 127.0.0.1 and a random port; messages parsed with mailparser.
// ---------------------------------------------------------------------------------------------

interface Delivered extends ReceivedMail {
  envelope: { from: string; to: string[] };
  user?: string;
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  if (!field) return [];
  return (Array.isArray(field) ? field : [field]).flatMap((group) => group.value.map((a) => a.address ?? ''));
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`): mailparser leaves them in X- headers. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?') // whitespace between adjacent encoded words is not content
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, encoding: string, text: string) => {
      const bytes = encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
      return new TextDecoder(charset.split('*')[0]).decode(bytes);
    });
}

function toReceived(parsed: ParsedMail): ReceivedMail {
  const headers: Record<string, string> = {};
  for (const [name, value] of parsed.headers) if (typeof value === 'string') headers[name] = decodeWords(value);
  return {
    from: addresses(parsed.from)[0] ?? '',
    to: addresses(parsed.to),
    subject: parsed.subject ?? '',
    text: parsed.text ?? '',
    ...(parsed.html === false ? {} : { html: parsed.html }),
    headers,
  };
}

/** `auth`: AUTH required with these credentials. `refuse`: recipient address → SMTP reply code for RCPT TO. */
async function startSmtpServer({
  auth,
  refuse = {},
}: { auth?: { user: string; password: string }; refuse?: Record<string, number> } = {}) {
  const mails: Delivered[] = [];
  const parsing = new Set<Promise<void>>();
  const server = new SMTPServer({
    logger: false,
    // Plain text on loopback: the client then skips STARTTLS and may AUTH without TLS.
    disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    allowInsecureAuth: true,
    authOptional: !auth,
    onAuth(credentials, _session, callback) {
      if (auth && credentials.username === auth.user && credentials.password === auth.password) {
        callback(null, { user: credentials.username });
      } else {
        callback(new Error('Invalid username or password'));
      }
    },
    onRcptTo(address, _session, callback) {
      const code = refuse[address.address];
      if (code === undefined) return callback();
      callback(Object.assign(new Error(`Refused recipient ${address.address}`), { responseCode: code }));
    },
    onData(stream, session, callback) {
      const done = simpleParser(stream).then(
        (parsed) => {
          mails.push({
            ...toReceived(parsed),
            envelope: {
              from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            ...(typeof session.user === 'string' ? { user: session.user } : {}),
          });
          callback();
        },
        (err: Error) => callback(err),
      );
      parsing.add(done);
      void done.finally(() => parsing.delete(done));
    },
  });
  server.on('error', () => {}); // a client resetting its connection is not the test's business
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    /** Everything delivered so far, after the messages still being parsed. */
    async received(): Promise<Delivered[]> {
      await Promise.all([...parsing]);
      return mails.slice();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  assert.unreachable('expected a rejection');
}

// ---------------------------------------------------------------------------------------------
// Conformance
// ---------------------------------------------------------------------------------------------

mailerConformance('log', async () => {
  const defaultFrom = 'Kernel <kernel@example.test>';
  const mailer = await logMailer.create({ from: defaultFrom }, context());
  return {
    mailer,
    defaultFrom,
    received: async () =>
      mailer.outbox().map((m) => ({
        from: m.from,
        to: ([] as string[]).concat(m.to),
        subject: m.subject,
        text: m.text,
        ...(m.html === undefined ? {} : { html: m.html }),
        headers: { ...m.headers },
      })),
    close: () => mailer.close!(),
  };
});

mailerConformance('smtp (smtp-server on loopback)', async () => {
  const server = await startSmtpServer();
  const defaultFrom = 'Kernel Test <kernel@example.test>';
  const mailer = await smtpMailer.create(
    { host: '127.0.0.1', port: server.port, from: defaultFrom, connectionTimeoutMs: 2000 },
    context(),
  );
  return {
    mailer,
    defaultFrom,
    received: () => server.received(),
    async close() {
      await mailer.close!();
      await server.close();
    },
  };
});

// ---------------------------------------------------------------------------------------------
// log adapter specifics
// ---------------------------------------------------------------------------------------------

const log = guarded(suite('mailer: log adapter'));

log('file: one JSON line per message, directories created, bodies only there (never in the log)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kernel-mailer-'));
  try {
    const file = join(dir, 'nested', 'deeper', 'outbox.jsonl');
    const { logger, lines } = capturingLogger();
    const mailer = await logMailer.create({ file }, context(systemClock, logger));
    const first = await mailer.send({
      to: 'a@example.com',
      subject: 'Reset your password',
      text: 'token=SECRET-TEXT-1',
      html: '<b>SECRET-HTML-1</b>',
    });
    const more = await Promise.all(
      [2, 3, 4].map((i) =>
        mailer.send({
          to: [`u${i}@example.com`, 'x@example.com'],
          subject: `Message ${i}`,
          text: `token=SECRET-TEXT-${i}`,
          headers: { 'X-N': String(i) },
        }),
      ),
    );
    await mailer.close!();

    const content = await readFile(file, 'utf8');
    assert.ok(content.endsWith('\n'));
    const records = content.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.is(records.length, 4);
    assert.equal(records.map((r) => r.id), [first.id, ...more.map((m) => m.id)]);
    assert.equal(records[0].to, ['a@example.com']);
    assert.is(records[0].from, 'no-reply@localhost');
    assert.is(records[0].subject, 'Reset your password');
    assert.is(records[0].text, 'token=SECRET-TEXT-1');
    assert.is(records[0].html, '<b>SECRET-HTML-1</b>');
    assert.ok(!Number.isNaN(Date.parse(records[0].sentAt)));
    assert.equal(records[3].headers, { 'X-N': '4' });
    if (process.platform !== 'win32') assert.is((await stat(file)).mode & 0o777, 0o600, 'the outbox file is private');

    // One info line per message, with id/to/subject and no body.
    const mailLines = lines.map((l) => JSON.parse(l)).filter((l) => l.mail);
    assert.is(mailLines.length, 4);
    assert.is(mailLines[0].level, 30);
    assert.equal(mailLines[0].mail, { id: first.id, to: ['a@example.com'], subject: 'Reset your password' });
    assert.not.match(lines.join(''), /SECRET-(TEXT|HTML)/);

    // A second instance appends to the same file.
    const again = await logMailer.create({ file }, context());
    await again.send({ to: 'z@example.com', subject: 'Appended', text: 'body' });
    await again.close!();
    assert.is((await readFile(file, 'utf8')).trimEnd().split('\n').length, 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

log('ids are <uuidv7@kernel.local>', async () => {
  const mailer = await logMailer.create({}, context());
  const { id } = await mailer.send({ to: 'a@example.com', subject: 's', text: 't' });
  const m = /^<([0-9a-f-]{36})@kernel\.local>$/.exec(id);
  assert.ok(m, `id was ${id}`);
  assert.ok(isUuidV7(m![1]));
});

log('outbox keeps the newest `keep` messages, newest last; entries are frozen; clear() empties it', async () => {
  const clock = new ManualClock(Date.UTC(2026, 4, 1, 12));
  const mailer = await logMailer.create({ keep: 2 }, context(clock));
  for (const i of [1, 2, 3]) {
    await mailer.send({ to: `u${i}@example.com`, subject: `S${i}`, text: `T${i}` });
    clock.advance(1000);
  }
  const outbox = mailer.outbox();
  assert.equal(outbox.map((m) => m.subject), ['S2', 'S3']);
  assert.is(outbox[0].from, 'no-reply@localhost');
  assert.is(outbox[0].sentAt, '2026-05-01T12:00:01.000Z');
  assert.ok(Object.isFrozen(outbox[0]));
  (outbox as unknown[]).length = 0;
  assert.is(mailer.outbox().length, 2, 'outbox() returns a copy');
  mailer.clear();
  assert.equal(mailer.outbox(), []);
  await mailer.send({ to: 'n@example.com', subject: 'after clear', text: 't' });
  assert.equal(mailer.outbox().map((m) => m.subject), ['after clear']);
});

log('a bad configured from is refused at start', async () => {
  const err = await rejection(async () => logMailer.create({ from: 'not an address' }, context()));
  assert.instance(err, TypeError);
});

log.run();

// ---------------------------------------------------------------------------------------------
// smtp adapter specifics
// ---------------------------------------------------------------------------------------------

const smtp = guarded(suite('mailer: smtp adapter'));

smtp(
  'authenticates with user/password; a wrong or missing password makes send reject; the password is never logged',
  async () => {
    const auth = { user: 'mailer', password: 'Pa55-w0rd-SECRET' };
    const server = await startSmtpServer({ auth });
    const { logger, lines } = capturingLogger();
    const base = { host: '127.0.0.1', port: server.port, from: 'app@example.test', connectionTimeoutMs: 2000 };
    const good = await smtpMailer.create(
      { ...base, user: auth.user, password: auth.password },
      context(systemClock, logger),
    );
    const wrong = await smtpMailer.create(
      { ...base, user: auth.user, password: 'WRONG-SECRET-guess' },
      context(systemClock, logger),
    );
    const anonymous = await smtpMailer.create({ ...base, pool: false }, context(systemClock, logger));
    try {
      const sent = await good.send({ to: 'r@example.com', subject: 'Authenticated', text: 'hi' });
      assert.ok(sent.id);
      await good.health!();
      const [mail] = (await server.received()).filter((m) => m.subject === 'Authenticated');
      assert.ok(mail, 'the message arrived');
      assert.is(mail.user, 'mailer', 'the server saw the configured user');
      assert.equal(mail.envelope, { from: 'app@example.test', to: ['r@example.com'] });

      const err = await rejection(() => wrong.send({ to: 'r@example.com', subject: 'Wrong password', text: 'hi' }));
      assert.ok(isAppError(err) && err.status === 503, `a failed login is a 503, got ${String(err)}`);
      assert.ok(await rejection(() => wrong.health!()), 'health fails with a wrong password');

      const anon = await rejection(() => anonymous.send({ to: 'r@example.com', subject: 'No login', text: 'hi' }));
      assert.ok(isAppError(anon) && anon.status === 503, `an unauthenticated send is refused, got ${String(anon)}`);

      assert.equal(
        (await server.received()).map((m) => m.subject),
        ['Authenticated'],
      );
      assert.ok(
        lines.some((l) => l.includes('Invalid login') || l.includes('EAUTH')),
        'the failure was logged',
      );
      assert.not.match(lines.join(''), /SECRET/);
    } finally {
      await Promise.all([good.close!(), wrong.close!(), anonymous.close!()]);
      await server.close();
    }
  },
);

smtp('health() passes against a live server and fails when nothing listens; send then is a 503', async () => {
  const server = await startSmtpServer();
  const live = await smtpMailer.create({ host: '127.0.0.1', port: server.port, from: 'app@example.test' }, context());
  const port = await deadPort();
  const dead = await smtpMailer.create(
    { host: '127.0.0.1', port, from: 'app@example.test', connectionTimeoutMs: 1000 },
    context(),
  );
  try {
    await live.health!();
    const health = await rejection(() => dead.health!());
    assert.instance(health, Error);
    assert.match((health as Error).message, `127.0.0.1:${port}`);
    const sent = await rejection(() => dead.send({ to: 'r@example.com', subject: 's', text: 't' }));
    assert.ok(isAppError(sent) && sent.status === 503 && sent.code === 'SERVICE_UNAVAILABLE', `got ${String(sent)}`);
  } finally {
    await Promise.all([live.close!(), dead.close!()]);
    await server.close();
  }
});

smtp('a recipient refused for good (5xx) is a plain error; a temporary refusal (4xx) is a 503', async () => {
  const server = await startSmtpServer({ refuse: { 'gone@example.com': 550, 'later@example.com': 451 } });
  const mailer = await smtpMailer.create({ host: '127.0.0.1', port: server.port, from: 'app@example.test' }, context());
  try {
    const gone = await rejection(() => mailer.send({ to: 'gone@example.com', subject: 'gone', text: 't' }));
    assert.instance(gone, Error);
    assert.not.ok(isAppError(gone), `got ${String(gone)}`);
    assert.match((gone as Error).message, 'refused the message');
    const later = await rejection(() => mailer.send({ to: 'later@example.com', subject: 'later', text: 't' }));
    assert.ok(isAppError(later) && later.status === 503, `got ${String(later)}`);
    // One refused recipient among accepted ones: the others still get the message.
    const partly = await mailer.send({ to: ['ok@example.com', 'gone@example.com'], subject: 'partly', text: 't' });
    assert.ok(partly.id);
    const [mail] = (await server.received()).filter((m) => m.subject === 'partly');
    assert.equal(mail.envelope.to, ['ok@example.com']);
    assert.equal((await server.received()).map((m) => m.subject), ['partly']);
  } finally {
    await mailer.close!();
    await server.close();
  }
});

smtp('user and password go together; a bad from is refused at start', async () => {
  assert.instance(
    await rejection(async () => smtpMailer.create({ host: 'localhost', from: 'a@example.com', user: 'u' }, context())),
    TypeError,
  );
  assert.instance(
    await rejection(async () =>
      smtpMailer.create({ host: 'localhost', from: 'a@example.com', password: 'p' }, context()),
    ),
    TypeError,
  );
  assert.instance(
    await rejection(async () => smtpMailer.create({ host: 'localhost', from: 'nope' }, context())),
    TypeError,
  );
});

smtp('options schemas: defaults, required keys, user/password together', () => {
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
  const check = (schema: JsonSchema, options: Record<string, unknown>) => {
    const validate = ajv.compile(schema);
    const ok = validate(options);
    return { ok, options, errors: validate.errors?.map((e) => `${e.instancePath} ${e.message}`) };
  };
  const s = smtpMailer.optionsSchema;
  const filled = check(s, { host: 'smtp.example.com', from: 'a@example.com' });
  assert.ok(filled.ok, String(filled.errors));
  assert.equal(filled.options, {
    host: 'smtp.example.com', from: 'a@example.com', port: 587, secure: false, requireTLS: false,
    connectionTimeoutMs: 5000, pool: true, tlsRejectUnauthorized: true,
  });
  assert.not.ok(check(s, { from: 'a@example.com' }).ok, 'host is required');
  assert.not.ok(check(s, { host: 'h' }).ok, 'from is required');
  assert.not.ok(check(s, { host: 'h', from: 'a@example.com', user: 'u' }).ok, 'user needs password');
  assert.not.ok(check(s, { host: 'h', from: 'a@example.com', password: 'p' }).ok, 'password needs user');
  assert.ok(check(s, { host: 'h', from: 'a@example.com', user: 'u', password: 'p' }).ok);
  assert.not.ok(check(s, { host: 'h', from: 'a@example.com', port: 0 }).ok);
  assert.not.ok(check(s, { host: 'h', from: 'a@example.com', tls: {} }).ok, 'unknown keys are refused');

  const l = logMailer.optionsSchema;
  const logDefaults = check(l, {});
  assert.ok(logDefaults.ok);
  assert.equal(logDefaults.options, { from: 'no-reply@localhost', keep: 100 });
  assert.not.ok(check(l, { keep: -1 }).ok);
  assert.not.ok(check(l, { keep: 1.5 }).ok);
  assert.not.ok(check(l, { other: 1 }).ok);
});

smtp.run();
