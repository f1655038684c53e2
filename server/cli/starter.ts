/**
 * Built-in starter models for the CLI: `sparsecell train --from nuclei` and `sparsecell predict --model nuclei`
 * name a starter (models/ registry, server/storage/starters.ts) instead of a file.
 */
import { StarterRegistry, defaultModelsDir } from '../storage/starters.js';
import { UsageError } from './args.js';

/** The archive of the `family` starter called `name`; a UsageError listing what is installed when there is none. */
export function starterArchive(flag: string, name: string, family: string, modelsDir?: string): Uint8Array {
  const reg = new StarterRegistry(modelsDir ?? defaultModelsDir());
  const e = reg.find(name, family);
  if (!e) {
    const have = reg.list().map((x) => `${x.card.name} (${x.card.family})`);
    const skipped = reg.problems.map((p) => `\n  skipped ${p.cardPath}: ${p.problem}`).join('');
    throw new UsageError(
      `--${flag}: "${name}" is neither a file nor a built-in ${family} starter model (installed in ${reg.dir}: ${have.length ? have.join(', ') : 'none'})${skipped}`,
    );
  }
  return reg.read(e);
}
