import nodemailer from 'nodemailer';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type { MailMessage, Mailer, SentMail } from '../../kernel/ports/mailer.ts';
import { errors } from '../../kernel/errors.ts';
import { checkMailbox, checkMessage } from './log.ts';

export interface SmtpMailerOptions {
  host: string;
  port?: number;
  /** TLS from the first byte (usually port 465). When false, STARTTLS is used if the server offers it. */
  secure?: boolean;
  /** Refuse to send unless the connection is upgraded with STARTTLS. */
  requireTLS?: boolean;
  user?: string;
  password?: string;
  from: string;
  connectionTimeoutMs?: number;
  pool?: boolean;
  tlsRejectUnauthorized?: boolean;
}

/** How long a connected server may stay silent mid-conversation before the send fails. */
const SOCKET_TIMEOUT_MS = 30_000;

/**
 * A permanent (5xx) refusal of a recipient or of the content, or a message nodemailer itself
 * will not send ('API'): retrying will not help, unlike a refused connection, TLS, AUTH
 * (530/535 at MAIL FROM too) or any 4xx, which mean the mail server is unavailable for now.
 */
function refusesMessage(err: NodemailerError): boolean {
  if (err.code !== 'EENVELOPE' && err.code !== 'EMESSAGE') return false;
  if (err.command === 'API') return true;
  return (err.command === 'RCPT TO' || err.command === 'DATA') && (err.responseCode ?? 0) >= 500;
}

interface NodemailerError extends Error {
  code?: string;
  responseCode?: number;
  command?: string;
}

function describe(err: NodemailerError) {
  // Deliberately not the error object: nothing nodemailer attaches can then end up in the log.
  return { code: err.code, responseCode: err.responseCode, command: err.command, message: err.message };
}

export function createSmtpMailer(options: SmtpMailerOptions, ctx: AdapterContext): Mailer & AdapterLifecycle {
  if (typeof options.host !== 'string' || options.host === '') throw new TypeError('adapters.mailer.host is required');
  const defaultFrom = checkMailbox(options.from, 'adapters.mailer.from');
  if ((options.user === undefined) !== (options.password === undefined)) {
    throw new TypeError('adapters.mailer.user and adapters.mailer.password must be given together (or neither)');
  }
  const connectionTimeout = options.connectionTimeoutMs ?? 5000;
  const port = options.port ?? 587;

  const transporter = nodemailer.createTransport({
    host: options.host,
    port,
    secure: options.secure ?? false,
    requireTLS: options.requireTLS ?? false,
    ...(options.user === undefined ? {} : { auth: { user: options.user, pass: options.password } }),
    pool: options.pool ?? true,
    connectionTimeout,
    greetingTimeout: connectionTimeout,
    socketTimeout: SOCKET_TIMEOUT_MS,
    tls: { rejectUnauthorized: options.tlsRejectUnauthorized ?? true },
    // Messages are built from strings only: no attachment may read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    // Nodemailer's own logging stays off: at debug level it would print message data and AUTH traffic.
    logger: false,
    debug: false,
  });
  transporter.on('error', (err: NodemailerError) =>
    ctx.logger.warn({ smtp: describe(err) }, 'smtp mailer transport error'),
  );

  const target = `${options.host}:${port}`;

  return {
    async send(message: MailMessage): Promise<SentMail> {
      const checked = checkMessage(message);
      const summary = { to: checked.to, subject: checked.subject };
      let info;
      try {
        info = await transporter.sendMail({
          from: checked.from ?? defaultFrom,
          to: checked.to,
          subject: checked.subject,
          text: checked.text,
          ...(checked.html === undefined ? {} : { html: checked.html }),
          headers: checked.headers,
        });
      } catch (e) {
        const err = e as NodemailerError;
        ctx.logger.warn({ mail: summary, smtp: describe(err) }, `smtp mailer: sending via ${target} failed`);
        if (refusesMessage(err)) {
          throw new Error(`The SMTP server ${target} refused the message: ${err.message}`, { cause: err });
        }
        throw errors.unavailable('mailer', 30, err);
      }
      if (info.rejected?.length) {
        ctx.logger.warn(
          { mail: { ...summary, id: info.messageId, rejected: info.rejected } },
          'smtp mailer: the server refused some recipients',
        );
      }
      ctx.logger.debug({ mail: { ...summary, id: info.messageId } }, 'mail sent (smtp)');
      return { id: info.messageId };
    },

    async health() {
      try {
        await transporter.verify();
      } catch (e) {
        throw new Error(`SMTP server ${target} is not usable: ${(e as Error).message}`, { cause: e });
      }
    },

    async close() {
      transporter.close();
    },
  };
}
