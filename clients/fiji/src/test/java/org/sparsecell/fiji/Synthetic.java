package org.sparsecell.fiji;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import ij.ImagePlus;
import ij.gui.OvalRoi;
import ij.gui.Roi;
import ij.process.ByteProcessor;

/** A seeded 64 × 64 8-bit image of bright discs on a dark noisy background, and ROIs annotating some of them. */
public final class Synthetic {
	private Synthetic() {}

	/** Disc centres (x, y) and radius. */
	public static final int[][] DISCS = { { 14, 14, 7 }, { 44, 16, 8 }, { 20, 44, 8 }, { 48, 46, 7 }, { 32, 30, 5 } };

	public static ImagePlus image(String title) {
		Random rnd = new Random(42);
		ByteProcessor ip = new ByteProcessor(64, 64);
		for (int y = 0; y < 64; y++) {
			for (int x = 0; x < 64; x++) {
				int v = 20 + rnd.nextInt(15);
				for (int[] d : DISCS) {
					int dx = x - d[0], dy = y - d[1];
					if (dx * dx + dy * dy <= d[2] * d[2]) v = 180 + rnd.nextInt(40);
				}
				ip.set(x, y, v);
			}
		}
		return new ImagePlus(title, ip);
	}

	/** Oval ROIs on the first n discs, plus a "background" rectangle in an empty strip. */
	public static List<Roi> rois(int n) {
		List<Roi> out = new ArrayList<>();
		for (int i = 0; i < n; i++) {
			int[] d = DISCS[i];
			out.add(new OvalRoi(d[0] - d[2], d[1] - d[2], 2 * d[2] + 1, 2 * d[2] + 1));
		}
		Roi bg = new Roi(0, 56, 64, 8);
		bg.setName("background");
		out.add(bg);
		return out;
	}
}
