#!/usr/bin/env python3
"""Small TIFF files written by tifffile (not by us) for test/imaging/tiff.test.ts.

Run once: pip install tifffile numpy; python3 scripts/make-tiff-fixtures.py
Each file holds a known ramp so the test can check every value:
  be-uint16.tif        big-endian uint16 5x7, value = 3*i
  le-float32-stack.tif little-endian float32 stack 3x4x5 (pages x H x W), value = i/4 - 2
  deflate-int32.tif    Deflate (8) int32 6x4, value = 1000*i - 7000
  imagej-uint8-stack.tif ImageJ hyperstack uint8 (Z=2) 4x5, value = i
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
for f in sorted(os.listdir(D)):
    print(f, os.path.getsize(os.path.join(D, f)))
