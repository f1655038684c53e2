/**
 * U-Net backbone configuration (shared by every family).
 * depth 2x2 max-pool levels; `filters` at level 0, doubled per level; 2 x (conv3x3 + ReLU) per level;
 * nearest 2x up-sampling + concat skip in the decoder; final 1x1 linear conv to `outputChannels`.
 * `grid` > 1 (StarDist's grid): a stem of 2 x (conv3x3 + ReLU) with `filters` filters at full resolution and a
 * grid x grid max-pool come first, so the whole U-Net and its output run at 1/grid resolution (as StarDist does).
 */
import { RECIPE } from '../../recipe.js';

export interface UNetConfig {
  inputChannels: number;
  outputChannels: number;
  /** Number of 2x down-samplings (input height/width must be divisible by 2^depth). */
  depth: number;
  /** Filters at level 0. */
  filters: number;
  /** Seed of the He initialisation. */
  seed: number;
  /** Output subsampling (1 or 2): the output pixel (i, j) belongs to input pixel (grid*i, grid*j). */
  grid: number;
}

/** Output grids this network supports (each one tested). */
export const UNET_GRIDS: readonly number[] = [1, 2];

export const UNET_DEFAULTS = Object.freeze({ depth: RECIPE.unetDepth, filters: RECIPE.unetFilters, seed: 42, grid: 1 });

export function makeUNetConfig(c: Partial<UNetConfig> & Pick<UNetConfig, 'inputChannels' | 'outputChannels'>): UNetConfig {
  const out: UNetConfig = {
    inputChannels: c.inputChannels,
    outputChannels: c.outputChannels,
    depth: c.depth ?? UNET_DEFAULTS.depth,
    filters: c.filters ?? UNET_DEFAULTS.filters,
    seed: c.seed ?? UNET_DEFAULTS.seed,
    grid: c.grid ?? UNET_DEFAULTS.grid,
  };
  const int = (k: keyof UNetConfig, min: number, max: number) => {
    const v = out[k];
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`unet.${k} must be an integer in [${min}, ${max}] (got ${v})`);
  };
  int('inputChannels', 1, 64);
  int('outputChannels', 1, 1024);
  int('depth', 0, 6);
  int('filters', 1, 512);
  int('seed', 0, 2 ** 31 - 1);
  if (!UNET_GRIDS.includes(out.grid)) throw new Error(`unet.grid must be one of ${UNET_GRIDS.join(', ')} (got ${out.grid})`);
  return out;
}

/** Input spatial sizes must be multiples of this: grid x 2^depth. */
export function unetDivisor(config: Pick<UNetConfig, 'depth'> & { grid?: number }): number {
  return (config.grid ?? 1) * 2 ** config.depth;
}

/** Multiply-accumulates of one forward pass per input pixel (3x3 and 1x1 convs only). */
export function unetMacsPerPixel(c: UNetConfig): number {
  let macs = 0;
  let cin = c.inputChannels;
  const g = c.grid ?? 1;
  if (g > 1) {
    macs += 9 * (cin * c.filters + c.filters * c.filters);
    cin = c.filters;
  }
  return macs + unetLevelsMacs(c, cin) / (g * g);
}

/** MACs per pixel of the levels below the stem, at their own input resolution. */
function unetLevelsMacs(c: UNetConfig, inputChannels: number): number {
  let macs = 0;
  let cin = inputChannels;
  for (let l = 0; l < c.depth; l++) {
    const f = c.filters * 2 ** l,
      scale = 4 ** -l;
    macs += scale * 9 * (cin * f + f * f);
    cin = f;
  }
  const fb = c.filters * 2 ** c.depth;
  macs += 4 ** -c.depth * 9 * (cin * fb + fb * fb);
  let below = fb;
  for (let l = c.depth - 1; l >= 0; l--) {
    const f = c.filters * 2 ** l,
      scale = 4 ** -l;
    macs += scale * 9 * ((f + below) * f + f * f);
    below = f;
  }
  macs += below * c.outputChannels;
  return macs;
}
