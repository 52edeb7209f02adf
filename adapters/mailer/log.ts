import { appendFile, mkdir, access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { defineAdapter, type AdapterContext, type AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type { MailMessage, Mailer, SentMail } from '../../kernel/ports/mailer.ts';

export interface LogMailerOptions {
  /** JSON-lines file each message is appended to (directories are created). */
  file?: string;
  from?: string;
  /** How many messages the in-memory outbox keeps (oldest dropped first). */
  keep?: number;
}

export type OutboxEntry = MailMessage & { id: string; from: string; sentAt: string };

export interface LogMailer extends Mailer {
  /** Messages sent so far, oldest first (at most `keep`). Entries are frozen. */
  outbox(): ReadonlyArray<OutboxEntry>;
  clear(): void;
}

// ---------------------------------------------------------------------------------------------
// Message validation, shared with adapters/mailer/smtp.ts. A malformed message is a programming
// error (the caller should have validated user input already), hence TypeError, never a 4xx.
// ---------------------------------------------------------------------------------------------

/** The message after validation: recipients as an array, headers always present. */
export interface CheckedMessage {
  to: string[];
  from?: string;
  subject: string;
  text: string;
  html?: string;
  headers: Record<string, string>;
}

const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u{80}-\\u{10FFFF}]";
const LABEL =
  '[A-Za-z0-9\\u{80}-\\u{10FFFF}](?:[A-Za-z0-9\\-\\u{80}-\\u{10FFFF}]{0,61}[A-Za-z0-9\\u{80}-\\u{10FFFF}])?';
/** dot-atom local part @ hostname (single-label hosts such as `localhost` allowed). */
const ADDR_SPEC = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*@${LABEL}(?:\\.${LABEL})*$`, 'u');
/** `Display Name <addr>` or `"Quoted, Name" <addr>`. */
const NAME_ADDR = /^(?:"((?:[^"\\\r\n]|\\[^\r\n])*)"|([^"<>,;:@\\()[\]\r\n]*?))\s*<([^<>\s]+)>$/u;
// Control characters other than tab have no place in a header.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F]/;
const HEADER_NAME = /^[!-9;-~]+$/;
/** Headers the message fields produce; setting them through `headers` would contradict those. */
const RESERVED_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'sender', 'subject', 'date', 'message-id', 'return-path',
  'mime-version', 'content-type', 'content-transfer-encoding',
]);
const MESSAGE_KEYS = new Set(['to', 'from', 'subject', 'text', 'html', 'headers']);

/** The bare addr-spec of a mailbox (`Ann <ann@example.com>` → `ann@example.com`), or undefined if invalid. */
export function addressOf(mailbox: string): string | undefined {
  const trimmed = mailbox.trim();
  let addr = trimmed;
  if (trimmed.endsWith('>')) {
    const m = NAME_ADDR.exec(trimmed);
    if (!m) return undefined;
    addr = m[3];
  }
  const at = addr.lastIndexOf('@');
  if (at > 64 || addr.length > 254 || !ADDR_SPEC.test(addr)) return undefined;
  return addr;
}

/** Throws a TypeError unless `value` is one mailbox: `a@b.c` or `Name <a@b.c>`. */
export function checkMailbox(value: unknown, what: string): string {
  if (typeof value !== 'string' || addressOf(value) === undefined) {
    throw new TypeError(
      `${what} must be an email address like "a@example.com" or "Name <a@example.com>", got ${JSON.stringify(value)}`,
    );
  }
  return value.trim();
}

export function checkMessage(message: MailMessage): CheckedMessage {
  if (typeof message !== 'object' || message === null) throw new TypeError('A mail message must be an object');
  for (const key of Object.keys(message)) {
    if (!MESSAGE_KEYS.has(key))
      throw new TypeError(`Unknown mail message field "${key}" (allowed: ${[...MESSAGE_KEYS].join(', ')})`);
  }
  const list = Array.isArray(message.to) ? message.to : message.to === undefined ? [] : [message.to];
  if (list.length === 0) throw new TypeError('A mail message needs at least one recipient in `to`');
  const to = list.map((r, i) => checkMailbox(r, Array.isArray(message.to) ? `to[${i}]` : 'to'));
  const from = message.from === undefined ? undefined : checkMailbox(message.from, 'from');

  if (typeof message.subject !== 'string' || message.subject.trim() === '')
    throw new TypeError('A mail message needs a non-empty `subject`');
  if (CONTROL.test(message.subject))
    throw new TypeError('`subject` must not contain line breaks or control characters');
  if (typeof message.text !== 'string' || message.text.trim() === '')
    throw new TypeError('A mail message needs a non-empty `text` body');
  if (message.html !== undefined && typeof message.html !== 'string') throw new TypeError('`html` must be a string');

  const headers: Record<string, string> = {};
  if (message.headers !== undefined) {
    if (typeof message.headers !== 'object' || message.headers === null || Array.isArray(message.headers)) {
      throw new TypeError('`headers` must be an object of strings');
    }
    const seen = new Set<string>();
    for (const [name, value] of Object.entries(message.headers)) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) throw new TypeError(`Invalid mail header name ${JSON.stringify(name)}`);
      if (RESERVED_HEADERS.has(lower))
        throw new TypeError(`Mail header "${name}" is set from the message fields and cannot be given in \`headers\``);
      if (seen.has(lower)) throw new TypeError(`Mail header "${name}" is given twice`);
      if (typeof value !== 'string' || CONTROL.test(value)) {
        throw new TypeError(`Mail header "${name}" must be a string without line breaks or control characters`);
      }
      seen.add(lower);
      headers[name] = value;
    }
  }

  return {
    to,
    ...(from === undefined ? {} : { from }),
    subject: message.subject,
    text: message.text,
    ...(message.html === undefined ? {} : { html: message.html }),
    headers,
  };
}

// ---------------------------------------------------------------------------------------------

const DEFAULT_FROM = 'no-reply@localhost';

async function createLogMailer(options: LogMailerOptions, ctx: AdapterContext): Promise<LogMailer & AdapterLifecycle> {
  const defaultFrom = checkMailbox(options.from ?? DEFAULT_FROM, 'adapters.mailer.from');
  const keep = options.keep ?? 100;
  if (!Number.isSafeInteger(keep) || keep < 0)
    throw new RangeError(`adapters.mailer.keep must be a non-negative integer, got ${keep}`);
  const file = options.file === undefined ? undefined : resolve(options.file);
  if (file) await mkdir(dirname(file), { recursive: true });

  let entries: OutboxEntry[] = [];
  // Appends are chained so that concurrent sends never interleave their lines.
  let writing: Promise<void> = Promise.resolve();
  const append = (line: string): Promise<void> => {
    const done = writing.then(() => appendFile(file!, line, { encoding: 'utf8', mode: 0o600 }));
    writing = done.catch(() => undefined);
    return done;
  };

  return {
    async send(message: MailMessage): Promise<SentMail> {
      const checked = checkMessage(message);
      const entry: OutboxEntry = Object.freeze({
        id: `<${uuidv7()}@kernel.local>`,
        sentAt: ctx.clock.date().toISOString(),
        from: checked.from ?? defaultFrom,
        to: Object.freeze(checked.to) as string[],
        subject: checked.subject,
        text: checked.text,
        ...(checked.html === undefined ? {} : { html: checked.html }),
        ...(Object.keys(checked.headers).length
          ? { headers: Object.freeze(checked.headers) as Record<string, string> }
          : {}),
      });
      if (file) await append(JSON.stringify(entry) + '\n');
      if (keep > 0) {
        entries.push(entry);
        if (entries.length > keep) entries.splice(0, entries.length - keep);
      }
      // Never the body: it may carry reset links or one-time codes.
      ctx.logger.info({ mail: { id: entry.id, to: entry.to, subject: entry.subject } }, 'mail sent (log mailer)');
      return { id: entry.id };
    },

    outbox: () => entries.slice(),

    clear() {
      entries = [];
    },

    async health() {
      if (file) await access(dirname(file), constants.W_OK);
    },

    async close() {
      await writing;
    },
  };
}

export default defineAdapter<LogMailer, LogMailerOptions>({
  port: 'mailer',
  name: 'log',
  local: true,
  description:
    'Development mailer: keeps sent messages in an in-memory outbox, optionally appends them to a JSON-lines file, logs one line per message (without the body).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      file: {
        type: 'string',
        minLength: 1,
        description: 'JSON-lines file each message (including its body) is appended to; directories are created.',
      },
      from: {
        type: 'string',
        minLength: 3,
        default: DEFAULT_FROM,
        description: 'Sender used when a message has no `from`.',
      },
      keep: { type: 'integer', minimum: 0, default: 100, description: 'How many messages the in-memory outbox keeps.' },
    },
  },
  create: (options, ctx) => createLogMailer(options ?? {}, ctx),
});
