/**
 * Mailer port: sends one email. Adapters: adapters/mailer/log.ts (file or in-memory outbox,
 * for dev and tests), adapters/mailer/smtp.ts. Conformance: test/ports/mailer.suite.ts.
 */
export interface MailMessage {
  to: string | string[];
  /** Defaults to the adapter's configured `from`. */
  from?: string;
  subject: string;
  text: string;
  html?: string;
  /** Extra headers, e.g. `X-Entity-Ref-ID`. */
  headers?: Record<string, string>;
}

export interface SentMail {
  /** Message-ID as the transport reports it. */
  id: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<SentMail>;
}
