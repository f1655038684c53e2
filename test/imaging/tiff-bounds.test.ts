/** The bounded TIFF reader (issue 16, findings 1-2): other codecs decode exactly; hostile files fail fast and small. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeTiff, lzwDecode, packBitsDecode, TiffLimitError } from '../../server/imaging/tiff.js';
import { deflateBombTiff, hugeDeclaredTiff, loopingIfdTiff, lzwGarbageTiff, packBitsGarbageTiff, rawTiff } from '../../scripts/attack-fixtures.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/tiff/', import.meta.url));

describe('imaging/tiff: bounded decoding', () => {
  it('reads LZW (with predictor), PackBits and tiled Deflate files written by tifffile', () => {
    const a = decodeTiff(readFileSync(FIX + 'lzw-uint16-pred.tif'));
    expect(a).to.include({ dtype: 'uint16', height: 37, width: 41, pages: 1 });
    expect(Array.from(a.data)).to.deep.equal(Array.from({ length: 37 * 41 }, (_, i) => (i * 7919) % 65536));
    const b = decodeTiff(readFileSync(FIX + 'lzw-uint8-big.tif'));
    expect(b).to.include({ dtype: 'uint8', height: 300, width: 200 });
    expect(Array.from(b.data)).to.deep.equal(Array.from({ length: 300 * 200 }, (_, i) => Number(BigInt(i) ** 2n % 251n)));
    const c = decodeTiff(readFileSync(FIX + 'packbits-uint8.tif'));
    expect(c).to.include({ dtype: 'uint8', height: 9, width: 50 });
    expect(Array.from(c.data)).to.deep.equal(Array.from({ length: 450 }, (_, i) => Math.floor(i / 7) % 5));
    const d = decodeTiff(readFileSync(FIX + 'tiled-deflate-int16.tif'));
    expect(d).to.include({ dtype: 'int16', height: 40, width: 35 });
    expect(Array.from(d.data)).to.deep.equal(Array.from({ length: 40 * 35 }, (_, i) => i - 700));
  });

  it('LZW garbage (the 848-byte file that hung the daemon) is refused as corrupt at once', () => {
    const t0 = Date.now();
    expect(() => decodeTiff(lzwGarbageTiff())).to.throw(/TIFF: .*LZW/);
    expect(Date.now() - t0).to.be.lessThan(500);
  });

  it('PackBits garbage is refused, not accepted as an image', () => {
    expect(() => decodeTiff(packBitsGarbageTiff())).to.throw(/TIFF: .*PackBits/);
  });

  it('a Deflate strip is inflated no further than the page needs (64 MiB bomb in a 64x64 page)', () => {
    const bomb = deflateBombTiff(64);
    expect(bomb.length).to.be.lessThan(128 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    expect(() => decodeTiff(bomb)).to.throw(/inflates to more than the 4096 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).to.be.lessThan(16 * 1024 * 1024);
  });

  it('a declared size over the limit is refused before anything of that size is allocated', () => {
    const t0 = Date.now();
    expect(() => decodeTiff(hugeDeclaredTiff(), { maxElements: 64 * 1024 * 1024 })).to.throw(TiffLimitError, /1073741824 elements/);
    expect(Date.now() - t0).to.be.lessThan(200);
  });

  it('a looping IFD chain, offsets outside the file and short strips are corrupt', () => {
    expect(() => decodeTiff(loopingIfdTiff())).to.throw(/IFD chain loops/);
    const t = rawTiff({ width: 8, height: 8, compression: 1, strip: new Uint8Array(10) });
    expect(() => decodeTiff(t)).to.throw(/strip holds 10 bytes; the page needs 64/);
    const bad = rawTiff({ width: 8, height: 8, compression: 1, strip: new Uint8Array(64) });
    new DataView(bad.buffer).setUint32(4, 1 << 30, true);
    expect(() => decodeTiff(bad)).to.throw(/outside the .*-byte file/);
  });

  it('LZW and PackBits decoders: exact output, errors on overrun and on codes beyond the table', () => {
    // PackBits example of the TIFF 6.0 specification
    const pb = Uint8Array.from([0xfe, 0xaa, 0x02, 0x80, 0x00, 0x2a, 0xfd, 0xaa, 0x03, 0x80, 0x00, 0x2a, 0x22, 0xf7, 0xaa]);
    expect(Array.from(packBitsDecode(pb, 24))).to.deep.equal([
      0xaa,
      0xaa,
      0xaa,
      0x80,
      0x00,
      0x2a,
      0xaa,
      0xaa,
      0xaa,
      0xaa,
      0x80,
      0x00,
      0x2a,
      0x22,
      ...Array(10).fill(0xaa),
    ]);
    expect(() => packBitsDecode(pb, 20)).to.throw(/more than the 20 bytes/);
    expect(() => packBitsDecode(pb, 30)).to.throw(/decodes to 24 bytes/);
    // 9-bit codes: Clear, 'A', 'B', 258 (= "AB"), EOI
    const bits = [256, 65, 66, 258, 257]
      .map((c) => c.toString(2).padStart(9, '0'))
      .join('')
      .padEnd(48, '0');
    const lzw = Uint8Array.from({ length: 6 }, (_, i) => parseInt(bits.slice(8 * i, 8 * i + 8), 2));
    expect(Array.from(lzwDecode(lzw, 4))).to.deep.equal([65, 66, 65, 66]);
    expect(() => lzwDecode(lzw, 3)).to.throw(/more than the 3 bytes/);
    const far = [256, 65, 300]
      .map((c) => c.toString(2).padStart(9, '0'))
      .join('')
      .padEnd(32, '0');
    expect(() =>
      lzwDecode(
        Uint8Array.from({ length: 4 }, (_, i) => parseInt(far.slice(8 * i, 8 * i + 8), 2)),
        8,
      ),
    ).to.throw(/beyond the table/);
  });
});
