/** The package version, read from package.json next to the build (storage/ is the only code touching disk). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(join(here, rel), 'utf8')) as { version: string }).version;
    } catch {
      /* try the next layout (dist/ or source) */
    }
  }
  return '0.0.0';
}
