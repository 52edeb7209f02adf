/**
 * Each plugin's components live in its own namespace in the merged document: a contract
 * file's `components.schemas.Message` is served as `<plugin>.Message`, and the file's own
 * `$ref`s to it are rewritten, so two plugins may both define `Message`. A `$ref` to a
 * name the file does not define is left alone: it points at common.yaml's shared components
 * (`Error`, `Pagination`, `Unauthorized`...). Security schemes are not namespaced: they are
 * named in `security` requirements and shared by every contract.
 * Applied once, to each file as it is read, before anything else looks at the document.
 */
const SHARED_KINDS = new Set(['securitySchemes']);

export function namespacedName(plugin: string, name: string): string {
  return name.startsWith(`${plugin}.`) ? name : `${plugin}.${name}`;
}

/** The file with its components renamed `<plugin>.<name>` and its references to them rewritten. */
export function namespaceComponents<T extends { components?: Record<string, unknown> }>(doc: T, plugin: string): T {
  const components = doc.components as Record<string, Record<string, unknown> | undefined> | undefined;
  if (!components) return doc;
  const renamed = new Map<string, string>();
  const out: Record<string, Record<string, unknown> | undefined> = {};
  for (const [kind, entries] of Object.entries(components)) {
    if (SHARED_KINDS.has(kind) || !entries) { out[kind] = entries; continue; }
    out[kind] = Object.fromEntries(Object.entries(entries).map(([name, value]) => {
      const to = namespacedName(plugin, name);
      renamed.set(`#/components/${kind}/${name}`, `#/components/${kind}/${to}`);
      return [to, value];
    }));
  }
  return rewriteRefs({ ...doc, components: out }, renamed) as T;
}

function rewriteRefs(node: unknown, renamed: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, renamed));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = key === '$ref' && typeof value === 'string' ? refTarget(value, renamed) : rewriteRefs(value, renamed);
  }
  // A discriminator's mapping names its schemas by reference too.
  const mapping = (out.discriminator as { mapping?: Record<string, unknown> } | undefined)?.mapping;
  if (mapping) {
    for (const [k, v] of Object.entries(mapping)) if (typeof v === 'string') mapping[k] = refTarget(v, renamed);
  }
  return out;
}

/** `#/components/schemas/Note` and deeper pointers into it (`.../Note/properties/id`). */
function refTarget(ref: string, renamed: Map<string, string>): string {
  const exact = renamed.get(ref);
  if (exact) return exact;
  const match = /^(#\/components\/[^/]+\/[^/]+)(\/.*)$/.exec(ref);
  const base = match && renamed.get(match[1]);
  return base ? base + match![2] : ref;
}
