import { catalogs } from './scripts/catalog.ts';
import { schemaDrift } from './kernel/storage/drift.ts';
for (const [name, p] of Object.entries((catalogs as any).plugins) as any) {
  if (!p.entities?.length && !p.migrations?.length) continue;
  console.log('==', name, '\n' + await schemaDrift(name, p.entities ?? [], p.migrations ?? []));
}
