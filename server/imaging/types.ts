/**
 * Plain typed-array image types shared by the pure modules (imaging, metrics, family targets and
 * post-processing). No tfjs, no sessions, no I/O here.
 *
 * Layout is always row-major, channels-last: index = (y * width + x) * channels + c.
 */

/** A 2-D single- or multi-channel float image (usually normalised intensities). */
export interface Image2D {
  height: number;
  width: number;
  channels: number;
  data: Float32Array;
  /**
   * Only on network output maps predicted on a subsampled grid (StarDist's grid): the size of the image they
   * belong to (map pixel (i, j) stands for image pixel (grid*i, grid*j)).
   */
  fullHeight?: number;
  fullWidth?: number;
}

/**
 * A 2-D label image in the signed convention used everywhere inside the server:
 * -1 = unlabeled (ignored by every loss), 0 = background, k > 0 = instance k.
 * Instance ids need not be consecutive.
 */
export interface Labels2D {
  height: number;
  width: number;
  data: Int32Array;
}

/** A polygon as a list of [y, x] vertices (pixel coordinates, pixel centres at integers). */
export type Polygon = Array<[number, number]>;

/** One predicted object. */
export interface Instance {
  id: number;
  score: number;
  points: Polygon;
}

/** What every family's post-processing returns: an instance label image (0 = background) and ROIs. */
export interface Instances {
  labels: Labels2D;
  polygons: Instance[];
  /** True when post-processing stopped at its maxObjects option with more objects left. */
  truncated?: boolean;
}

/** Signed-convention constants. */
/** Mean over the channels of pixel i (flat index) of a channels-last image. */
export function pixelMean(data: Float32Array, i: number, channels: number): number {
  let s = 0;
  for (let c = 0; c < channels; c++) s += data[i * channels + c];
  return s / channels;
}

export const UNLABELED = -1;
export const BACKGROUND = 0;
