/**
 * The starter-model registry: the trained models shipped in the package's models/ folder (written by
 * `npm run pretrain`, README "Starter models"). Each model is a card, models/<name>-<family>.json, beside its export
 * archive (the `file` it names, read from the same folder). A card is offered only when its archive exists and its
 * sha256 matches the card; the archive is checked again on every read. storage/ is the only code touching disk.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StarterCard {
  name: string;
  family: 'stardist' | 'cellpose' | 'elephant';
  description: string;
  /** The archive, as written by pretrain ("models/nuclei-stardist.scm"); read from the registry folder by base name. */
  file: string;
  sha256: string;
  scores: { accuracy05: number; f1: number; pq: number };
  data?: { testImages?: number };
  thresholds?: { probThresh?: number; nmsThresh?: number };
}

export interface StarterEntry {
  card: StarterCard;
  cardPath: string;
  archivePath: string;
}

const FAMILIES = ['stardist', 'cellpose', 'elephant'];
/** The starter model:train {from: "starter"} uses for a session that was created without one. */
export const DEFAULT_STARTER = 'nuclei';
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** models/ at the package root (next to package.json), from the build (dist/server/storage) or the sources. */
export function defaultModelsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../../..', '../..']) {
    const root = join(here, rel);
    if (existsSync(join(root, 'package.json'))) return join(root, 'models');
  }
  return join(here, '../../../models');
}

/** What is wrong with a parsed card (undefined: it is a usable card). */
function cardProblem(c: Partial<StarterCard>): string | undefined {
  if (typeof c.name !== 'string' || !NAME_RE.test(c.name)) return 'name must be an id ([A-Za-z0-9_-]{1,64})';
  if (!FAMILIES.includes(c.family as string)) return `family must be one of ${FAMILIES.join(', ')}`;
  if (typeof c.file !== 'string' || !c.file) return 'file (the archive) is missing';
  if (typeof c.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(c.sha256)) return 'sha256 must be 64 hex digits';
  const s = c.scores;
  if (!s || ![s.accuracy05, s.f1, s.pq].every((v) => typeof v === 'number' && Number.isFinite(v))) return 'scores {accuracy05, f1, pq} are missing';
  return undefined;
}

export class StarterRegistry {
  private readonly entries: StarterEntry[] = [];
  /** Cards that were skipped, with the reason (logged by the daemon, asserted by tests). */
  readonly problems: Array<{ cardPath: string; problem: string }> = [];

  /** Read every card in dir (a missing folder is an empty registry) and check each archive's sha256. */
  constructor(readonly dir: string) {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const cardPath = join(dir, f);
      let card: StarterCard;
      try {
        card = JSON.parse(readFileSync(cardPath, 'utf8')) as StarterCard;
      } catch (e) {
        this.problems.push({ cardPath, problem: `not JSON: ${(e as Error).message}` });
        continue;
      }
      const bad = cardProblem(card);
      if (bad) {
        this.problems.push({ cardPath, problem: bad });
        continue;
      }
      const archivePath = join(dir, basename(card.file));
      if (!existsSync(archivePath)) {
        this.problems.push({ cardPath, problem: `archive ${archivePath} is missing` });
        continue;
      }
      const got = sha256Hex(readFileSync(archivePath));
      if (got !== card.sha256) {
        this.problems.push({ cardPath, problem: `archive ${archivePath} has sha256 ${got}, the card says ${card.sha256}` });
        continue;
      }
      if (this.find(card.name, card.family)) {
        this.problems.push({ cardPath, problem: `a second ${card.family} starter named "${card.name}"` });
        continue;
      }
      this.entries.push({ card, cardPath, archivePath });
    }
  }

  list(): StarterEntry[] {
    return [...this.entries];
  }

  find(name: string, family: string): StarterEntry | undefined {
    return this.entries.find((e) => e.card.name === name && e.card.family === family);
  }

  /** The archive bytes, checked against the card again (a file replaced after start-up is refused). */
  read(e: StarterEntry): Uint8Array {
    const bytes = new Uint8Array(readFileSync(e.archivePath));
    const got = sha256Hex(bytes);
    if (got !== e.card.sha256) throw new Error(`starter archive ${e.archivePath} changed on disk (sha256 ${got}, card ${e.card.sha256})`);
    return bytes;
  }
}
