/**
 * U-Net backbone configuration (shared by every family).
 * depth 2x2 max-pool levels; `filters` at level 0, doubled per level; 2 x (conv3x3 + ReLU) per level;
 * nearest 2x up-sampling + concat skip in the decoder; final 1x1 linear conv to `outputChannels`.
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
}

export const UNET_DEFAULTS = Object.freeze({ depth: RECIPE.unetDepth, filters: RECIPE.unetFilters, seed: 42 });

export function makeUNetConfig(c: Partial<UNetConfig> & Pick<UNetConfig, 'inputChannels' | 'outputChannels'>): UNetConfig {
  const out: UNetConfig = {
    inputChannels: c.inputChannels,
    outputChannels: c.outputChannels,
    depth: c.depth ?? UNET_DEFAULTS.depth,
    filters: c.filters ?? UNET_DEFAULTS.filters,
    seed: c.seed ?? UNET_DEFAULTS.seed,
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
  return out;
}

/** Input spatial sizes must be multiples of this. */
export function unetDivisor(config: Pick<UNetConfig, 'depth'>): number {
  return 2 ** config.depth;
}

/** Multiply-accumulates of one forward pass per input pixel (3x3 and 1x1 convs only). */
export function unetMacsPerPixel(c: UNetConfig): number {
  let macs = 0;
  let cin = c.inputChannels;
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
