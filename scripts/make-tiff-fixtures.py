#!/usr/bin/env python3
"""Small TIFF files written by tifffile (not by us) for test/imaging/tiff.test.ts.

Run once: pip install tifffile numpy; python3 scripts/make-tiff-fixtures.py
Each file holds a known ramp so the test can check every value:
  be-uint16.tif        big-endian uint16 5x7, value = 3*i
  le-float32-stack.tif little-endian float32 stack 3x4x5 (pages x H x W), value = i/4 - 2
  deflate-int32.tif    Deflate (8) int32 6x4, value = 1000*i - 7000
  imagej-uint8-stack.tif ImageJ hyperstack uint8 (Z=2) 4x5, value = i
  lzw-uint16-pred.tif  LZW + horizontal predictor uint16 37x41, 3 rows per strip, value = (i*7919) % 65536
  lzw-uint8-big.tif    LZW uint8 300x200 (long codes, clear codes), value = (i*i) % 251
  packbits-uint8.tif   PackBits uint8 9x50 with runs, value = (i // 7) % 5
  tiled-deflate-int16.tif Deflate int16 tiles 16x16 of a 40x35 image, value = i - 700
(lzw/packbits need: pip install imagecodecs)
"""
import os
import numpy as np
import tifffile

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'tiff')
os.makedirs(D, exist_ok=True)
tifffile.imwrite(os.path.join(D, 'be-uint16.tif'), (3 * np.arange(35)).reshape(5, 7).astype('>u2'), byteorder='>')
tifffile.imwrite(os.path.join(D, 'le-float32-stack.tif'), (np.arange(60) / 4 - 2).reshape(3, 4, 5).astype('<f4'),
                 photometric='minisblack')
tifffile.imwrite(os.path.join(D, 'deflate-int32.tif'), (1000 * np.arange(24) - 7000).reshape(6, 4).astype('<i4'),
                 compression='zlib')
tifffile.imwrite(os.path.join(D, 'imagej-uint8-stack.tif'), np.arange(40, dtype=np.uint8).reshape(2, 4, 5), imagej=True,
                 metadata={'axes': 'ZYX'})
tifffile.imwrite(os.path.join(D, 'lzw-uint16-pred.tif'), ((np.arange(37 * 41) * 7919) % 65536).reshape(37, 41).astype('<u2'),
                 compression='lzw', predictor=True, rowsperstrip=3)
tifffile.imwrite(os.path.join(D, 'lzw-uint8-big.tif'), ((np.arange(300 * 200) ** 2) % 251).reshape(300, 200).astype('u1'),
                 compression='lzw')
tifffile.imwrite(os.path.join(D, 'packbits-uint8.tif'), ((np.arange(9 * 50) // 7) % 5).reshape(9, 50).astype('u1'),
                 compression='packbits')
tifffile.imwrite(os.path.join(D, 'tiled-deflate-int16.tif'), (np.arange(40 * 35) - 700).reshape(40, 35).astype('<i2'),
                 compression='zlib', tile=(16, 16))
for f in sorted(os.listdir(D)):
    print(f, os.path.getsize(os.path.join(D, f)))
