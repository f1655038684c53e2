import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeTiff, encodeTiff, type TiffDtype } from '../../server/imaging/tiff.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = ROOT + 'test/fixtures/tiff/';
const SHARED = ROOT + '../shared/data/';

describe('imaging/tiff', () => {
  it('round trips every dtype, stacks and channels, raw and deflate', () => {
    const make: Record<TiffDtype, (n: number) => ArrayLike<number> & { length: number }> = {
      uint8: (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 256),
      uint16: (n) => Uint16Array.from({ length: n }, (_, i) => (i * 977) % 65536),
      int16: (n) => Int16Array.from({ length: n }, (_, i) => ((i * 331) % 65536) - 32768),
      int32: (n) => Int32Array.from({ length: n }, (_, i) => i * 100003 - 2 ** 30),
      float32: (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3),
    };
    for (const dtype of Object.keys(make) as TiffDtype[]) {
      for (const [pages, channels] of [
        [1, 1],
        [3, 1],
        [2, 3],
      ]) {
        for (const compression of ['none', 'deflate'] as const) {
          const data = make[dtype](pages * 5 * 7 * channels) as never;
          const bytes = encodeTiff({ dtype, pages, height: 5, width: 7, channels, data }, { compression });
          const back = decodeTiff(bytes);
          expect(back).to.include({ dtype, pages, height: 5, width: 7, channels });
          expect(Array.from(back.data)).to.deep.equal(Array.from(data as ArrayLike<number>));
        }
      }
    }
  });

  it('reads files written by tifffile (big-endian, float stack, deflate, ImageJ)', () => {
    const be = decodeTiff(readFileSync(FIX + 'be-uint16.tif'));
    expect(be).to.include({ dtype: 'uint16', pages: 1, height: 5, width: 7 });
    expect(Array.from(be.data)).to.deep.equal(Array.from({ length: 35 }, (_, i) => 3 * i));
    const st = decodeTiff(readFileSync(FIX + 'le-float32-stack.tif'));
    expect(st).to.include({ dtype: 'float32', pages: 3, height: 4, width: 5 });
    expect(Array.from(st.data)).to.deep.equal(Array.from({ length: 60 }, (_, i) => i / 4 - 2));
    const df = decodeTiff(readFileSync(FIX + 'deflate-int32.tif'));
    expect(df).to.include({ dtype: 'int32', height: 6, width: 4 });
    expect(Array.from(df.data)).to.deep.equal(Array.from({ length: 24 }, (_, i) => 1000 * i - 7000));
    const ij = decodeTiff(readFileSync(FIX + 'imagej-uint8-stack.tif'));
    expect(ij).to.include({ dtype: 'uint8', pages: 2, height: 4, width: 5 });
    expect(Array.from(ij.data)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i));
  });

  it('rejects non-TIFF bytes', () => {
    expect(() => decodeTiff(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).to.throw(/not a TIFF/);
  });

  it('decodes the shared DSB2018 images and masks (Deflate)', function () {
    const dir = SHARED + 'dsb2018-train/';
    if (!existsSync(dir + 'images')) {
      this.skip();
      return;
    }
    const index = readFileSync(dir + 'index.tsv', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('\t'));
    for (const [name, , h, w, n] of index.slice(0, 5)) {
      const im = decodeTiff(readFileSync(`${dir}images/${name}.tif`));
      const m = decodeTiff(readFileSync(`${dir}masks/${name}.tif`));
      expect(im).to.include({ dtype: 'uint8', pages: 1, height: Number(h), width: Number(w), channels: 1 });
      expect(m).to.include({ dtype: 'uint16', height: Number(h), width: Number(w) });
      const ids = new Set(Array.from(m.data).filter((v) => v > 0));
      expect(ids.size).to.equal(Number(n));
    }
  });

  it('decodes the shared stardist img2d/mask2d (uncompressed uint16)', function () {
    const dir = SHARED + 'stardist-img2d/';
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.tif')) : [];
    if (files.length < 2) {
      this.skip();
      return;
    } // the data folder holds only SHA256SUMS on some machines
    const img = decodeTiff(readFileSync(dir + 'img2d.tif'));
    const mask = decodeTiff(readFileSync(dir + 'mask2d.tif'));
    expect(img).to.include({ dtype: 'uint16', height: 512, width: 512 });
    expect(new Set(Array.from(mask.data).filter((v) => v > 0)).size).to.equal(125);
  });
});
