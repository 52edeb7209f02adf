const SECRET_KEY = /(pass(word)?|secret|token|api[-_]?key|private[-_]?key|credential)/i;

/** A copy of the config fit to print: secret-looking keys masked, passwords in URLs masked. */
export function redact(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  if (typeof value === 'string') {
    if (SECRET_KEY.test(key) && value) return '[redacted]';
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):([^@\s]+)@/i, '$1:[redacted]@');
  }
  return value;
}
