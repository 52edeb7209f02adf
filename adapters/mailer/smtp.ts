import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Mailer } from '../../kernel/ports/mailer.ts';
import type { SmtpMailerOptions } from './smtpClient.ts';

export type { SmtpMailerOptions };

export default defineAdapter<Mailer, SmtpMailerOptions>({
  port: 'mailer',
  name: 'smtp',
  description: 'SMTP via nodemailer (pooled connections, STARTTLS when offered, optional AUTH).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['host', 'from'],
    properties: {
      host: { type: 'string', minLength: 1 },
      port: {
        type: 'integer',
        minimum: 1,
        maximum: 65535,
        default: 587,
        description: 'Usually 587 (STARTTLS) or 465 (with secure: true).',
      },
      secure: {
        type: 'boolean',
        default: false,
        description: 'TLS from the start; when false, STARTTLS is used if the server offers it.',
      },
      requireTLS: {
        type: 'boolean',
        default: false,
        description: 'Fail unless the connection is upgraded with STARTTLS.',
      },
      user: { type: 'string', minLength: 1 },
      password: { type: 'string', minLength: 1, writeOnly: true },
      from: {
        type: 'string',
        minLength: 3,
        description: 'Sender used when a message has no `from`, e.g. "Acme <no-reply@acme.test>".',
      },
      connectionTimeoutMs: { type: 'integer', minimum: 1, default: 5000 },
      pool: { type: 'boolean', default: true, description: 'Reuse connections between messages.' },
      tlsRejectUnauthorized: { type: 'boolean', default: true, description: 'Verify the server certificate.' },
    },
    dependentRequired: { user: ['password'], password: ['user'] },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./smtpClient.ts')).createSmtpMailer(options, ctx),
});
