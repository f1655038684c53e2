/**
 * The study's result types and the cells' reading order, shared by run-study.ts (which produces them), report.ts
 * (tables) and figures.ts (plots), so none of them imports another.
 */
import type { AnnotationCost } from './strategies.js';
import type { MatchingStats } from '../metrics/matching.js';

export type CellCost = AnnotationCost & { fractionObjects: number; fractionPixels: number };

export interface CellResult {
  id: string;
  ordering: string;
  /** Objects per image parameter (null for full). */
  k: number | null;
  bg: string;
  cost: CellCost;
  training: { steps: number; loss: number; stoppedBy: string; seconds: number; timeLimitS: number; images: number };
  evaluation: {
    images: number;
    seconds: number;
    atIoU05: MatchingStats;
    curve: MatchingStats[];
    /** Thresholds used for atIoU05 / curve: chosen on the validation images, or the family's defaults. */
    thresholds: { probThresh?: number; nmsThresh?: number; chosenOn: string; valAccuracy05?: number };
    /** The same model at the family's default thresholds (when thresholds were tuned). */
    defaultThresholdsAtIoU05?: MatchingStats;
  };
  fingerprint: StudyFingerprint;
  finishedAt: string;
}

/** What must be equal for a finished cell to be reused. */
export interface StudyFingerprint {
  family: string;
  config: Record<string, unknown>;
  train: Record<string, unknown>;
  seed: number;
  trainSet: string;
  testSet: string;
  trainImages: number;
  testImages: number;
  /** Validation images for thresholds ('' when none). */
  valSet: string;
  maxSteps: number | null;
}

export interface StudySetup {
  family: string;
  grid: string;
  cells: string[];
  budgetS: number;
  perCellS: number;
  seed: number;
  config: Record<string, unknown>;
  train: Record<string, unknown>;
  backend?: string;
  trainSet: { images: string; masks: string; count: number };
  testSet: { images: string; masks: string; count: number; split: string };
  /** Validation images (from the training folder, not trained on) for per-cell thresholds. */
  valSet: { count: number; rule: string };
}

/** Names of the background variants in tables and legends. */
export const BG_NAME: Readonly<Record<string, string>> = { bg: 'with BG', none: 'no BG', scribble: 'scribble BG' };

/** Cells in a stable reading order: full first, then ordering, background variant, k. */
export function sortCells(cells: CellResult[]): CellResult[] {
  const ord = ['full', 'minmax', 'min', 'max', 'random'],
    bg = ['full', 'bg', 'scribble', 'none'];
  return [...cells].sort((a, b) => ord.indexOf(a.ordering) - ord.indexOf(b.ordering) || bg.indexOf(a.bg) - bg.indexOf(b.bg) || (a.k ?? 0) - (b.k ?? 0));
}
