/** Errors every payments adapter throws, with the codes kernel/ports/payments.ts documents. */
import { AppError } from '../../kernel/errors.ts';

export function badSignature(reason: string): AppError {
  return new AppError(400, 'WEBHOOK_SIGNATURE_INVALID', `Webhook signature check failed: ${reason}`);
}

export function badPayload(reason: string): AppError {
  return new AppError(400, 'WEBHOOK_PAYLOAD_INVALID', `Webhook payload is not a readable event: ${reason}`);
}

export function providerUnavailable(provider: string, retryAfterSeconds: number, cause?: unknown): AppError {
  return new AppError(503, 'PAYMENT_PROVIDER_UNAVAILABLE', `The payment provider ${provider} is unavailable`, {
    details: { dependency: provider, retry_after: retryAfterSeconds },
    headers: { 'Retry-After': String(retryAfterSeconds) },
    cause,
  });
}

export function providerError(provider: string, message: string, cause?: unknown): AppError {
  return new AppError(502, 'PAYMENT_PROVIDER_ERROR', `The payment provider ${provider} refused: ${message}`, {
    details: { dependency: provider },
    cause,
  });
}

/** The one header value of `name`, or undefined (a repeated signature header is refused). */
export function singleHeader(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
