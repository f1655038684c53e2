/** A private temporary folder for libraries that only read from a path (TensorFlow's SavedModel loader). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Write files into a new private temporary folder, run `use` on it, and remove it afterwards (also when `use` throws). */
export function withTempFiles<T>(prefix: string, files: Record<string, Uint8Array>, use: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    return use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
