package org.sparsecell.fiji.imaging;

import java.awt.Color;
import java.awt.Rectangle;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import ij.ImagePlus;
import ij.gui.Roi;
import ij.process.ImageProcessor;

/**
 * ROIs → sparse label plane in offset1 form (0 unlabeled, 1 background, k+1 instance k), and the diff of two
 * label planes as a bounding box. Pure functions of ROIs and int arrays: no daemon, no GUI.
 * <ul>
 * <li>each area ROI is one object, numbered 1, 2, ... in list order (later ROIs win where objects overlap);</li>
 * <li>a ROI named "background…" (any case), in a ROI group named "background", or stroked in the chosen
 * background colour is background (value 1) and is painted first, under the objects;</li>
 * <li>ROIs named {@value #PREDICTION_PREFIX}… are predictions, not annotations, and are skipped (rename one to
 * accept it as an annotation); so are the suggestion rectangles ({@value #SUGGESTION_PREFIX}…);</li>
 * <li>line and point ROIs with no area are skipped.</li>
 * </ul>
 */
public final class RoiLabels {
	private RoiLabels() {}

	/** Name prefix of the ROIs that Predict and Live mode add. */
	public static final String PREDICTION_PREFIX = "sparsecell-pred-";

	public static final String UNLABELED_DTYPE_NOTE = "offset1";

	public static boolean isPrediction(Roi roi) {
		return roi.getName() != null && roi.getName().startsWith(PREDICTION_PREFIX);
	}

	/** Name prefix of the rectangles that Suggest and live suggestions add (never sent as labels). */
	public static final String SUGGESTION_PREFIX = "sparsecell-suggestion-";

	public static boolean isSuggestion(Roi roi) {
		return roi.getName() != null && roi.getName().startsWith(SUGGESTION_PREFIX);
	}

	/** Background ROI: named background…, in the group named background, or stroked in bgColour (may be null). */
	public static boolean isBackground(Roi roi, Color bgColour) {
		String name = roi.getName();
		if (name != null && name.trim().toLowerCase(Locale.ROOT).startsWith("background")) return true;
		String group = Roi.getGroupName(roi.getGroup());
		if (group != null && group.trim().equalsIgnoreCase("background")) return true;
		return bgColour != null && bgColour.equals(roi.getStrokeColor());
	}

	/**
	 * 0-based plane index a ROI belongs to in imp (the plane list of NdArrays.planes), or -1 when it applies to
	 * every plane (position 0, or a single-plane image).
	 */
	public static int planeOf(Roi roi, ImagePlus imp) {
		int nPlanes = NdArrays.planes(imp).length;
		if (nPlanes == 1) return -1;
		boolean alongT = imp.getNSlices() == 1 && imp.getNFrames() > 1;
		if (roi.hasHyperStackPosition()) {
			int p = alongT ? roi.getTPosition() : roi.getZPosition();
			return p - 1;
		}
		int pos = roi.getPosition();
		if (pos == 0) return -1;
		if (!imp.isHyperStack() && imp.getNChannels() == 1) return pos - 1;
		int[] czt = imp.convertIndexToPosition(pos);
		return (alongT ? czt[2] : czt[1]) - 1;
	}

	/** The 0-based plane index of imp's current position (into NdArrays.planes). */
	public static int currentPlane(ImagePlus imp) {
		int nPlanes = NdArrays.planes(imp).length;
		if (nPlanes == 1) return 0;
		if (imp.getNChannels() == 1 && (imp.getNSlices() == 1 || imp.getNFrames() == 1)) return imp.getCurrentSlice() - 1;
		return imp.getNSlices() > 1 ? imp.getZ() - 1 : imp.getT() - 1;
	}

	/** The annotation ROIs (not predictions) that apply to plane z (0-based) of imp. */
	public static List<Roi> forPlane(List<Roi> rois, ImagePlus imp, int z) {
		List<Roi> out = new ArrayList<>();
		for (Roi r : rois) {
			if (r == null || isPrediction(r) || isSuggestion(r)) continue;
			int p = planeOf(r, imp);
			if (p == -1 || p == z) out.add(r);
		}
		return out;
	}

	/** Rasterize ROIs into an offset1 label plane of w × h. */
	public static int[] rasterize(List<Roi> rois, int w, int h, Color bgColour) {
		int[] out = new int[w * h];
		for (Roi r : rois) if (r.isArea() && isBackground(r, bgColour)) paint(out, w, h, r, 1);
		int k = 0;
		for (Roi r : rois) {
			if (!r.isArea() || isBackground(r, bgColour)) continue;
			k++;
			paint(out, w, h, r, k + 1);
		}
		return out;
	}

	/** Number of ROIs that rasterize() turns into objects. */
	public static int countObjects(List<Roi> rois, Color bgColour) {
		int k = 0;
		for (Roi r : rois) if (r.isArea() && !isBackground(r, bgColour)) k++;
		return k;
	}

	private static void paint(int[] out, int w, int h, Roi r, int value) {
		Rectangle b = r.getBounds();
		ImageProcessor mask = r.getMask();
		for (int y = Math.max(0, b.y); y < Math.min(h, b.y + b.height); y++) {
			for (int x = Math.max(0, b.x); x < Math.min(w, b.x + b.width); x++) {
				if (mask == null || mask.get(x - b.x, y - b.y) != 0) out[y * w + x] = value;
			}
		}
	}

	/** A label image plane (offset1) as int values, checked non-negative. */
	public static int[] fromLabelImage(ImageProcessor ip) {
		int[] v = NdArrays.intPixels(ip);
		for (int x : v) if (x < 0) throw new IllegalArgumentException("label image has negative values: use the offset1 form (0 unlabeled, 1 background, k+1 object k)");
		return v;
	}

	/** Half-open bounding box [y0, x0, y1, x1] of the pixels where a and b differ, or null if equal. */
	public static int[] changedBox(int[] a, int[] b, int w, int h) {
		int y0 = h, x0 = w, y1 = -1, x1 = -1;
		for (int y = 0; y < h; y++) {
			int row = y * w;
			for (int x = 0; x < w; x++) {
				if (a[row + x] != b[row + x]) {
					if (y < y0) y0 = y;
					if (y > y1) y1 = y;
					if (x < x0) x0 = x;
					if (x > x1) x1 = x;
				}
			}
		}
		return y1 < 0 ? null : new int[] { y0, x0, y1 + 1, x1 + 1 };
	}

	/** The box [y0, x0, y1, x1] of a w-wide plane, row by row. */
	public static int[] crop(int[] v, int w, int[] box) {
		int bh = box[2] - box[0], bw = box[3] - box[1];
		int[] out = new int[bh * bw];
		for (int y = 0; y < bh; y++) System.arraycopy(v, (box[0] + y) * w + box[1], out, y * bw, bw);
		return out;
	}

	public static int max(int[] v) {
		int m = 0;
		for (int x : v) if (x > m) m = x;
		return m;
	}
}
