/**
 * `${VAR}` and `${VAR:-default}` in config strings. An unset variable with no default
 * is a problem reported with the path where it appears; `$${` escapes a literal `${`.
 */
export interface InterpolationProblem { path: string; variable: string }

const PATTERN = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: string,
  problems: InterpolationProblem[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(PATTERN, (match, escaped: string, name: string, fallback: string | undefined) => {
      if (escaped) return match.slice(1);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push({ path, variable: name });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}[${i}]`, problems));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, path ? `${path}.${k}` : k, problems);
    return out;
  }
  return value;
}
