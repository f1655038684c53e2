package org.sparsecell.fiji.imaging;

import java.awt.Color;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.PolygonRoi;
import ij.gui.Roi;
import ij.plugin.frame.RoiManager;

import org.sparsecell.fiji.protocol.Protocol;

/**
 * Where ROIs come from and go to: the ROI Manager, or the image's Overlay. In a plain headless JVM the ROI Manager
 * (an AWT Frame) cannot exist, so "ROI Manager" falls back to the Overlay there (Fiji's headless mode patches
 * the ROI Manager and uses the real one).
 */
public final class RoiIO {
	private RoiIO() {}

	public static final String ROI_MANAGER = "ROI Manager";
	public static final String OVERLAY = "Overlay";

	/** The ROI Manager (created if create is true and none is open), or null where none can exist. */
	public static RoiManager roiManager(boolean create) {
		RoiManager rm = RoiManager.getInstance();
		if (rm != null || !create) return rm;
		if (GraphicsEnvironment.isHeadless()) return null;
		try {
			return RoiManager.getRoiManager();
		}
		catch (RuntimeException | Error e) { // HeadlessException, AWTError without a display
			return null;
		}
	}

	/** The annotation ROIs of the chosen source ("ROI Manager" falls back to the Overlay when headless). */
	public static List<Roi> read(String source, ImagePlus imp) {
		if (ROI_MANAGER.equals(source)) {
			RoiManager rm = roiManager(false);
			if (rm != null) return new ArrayList<>(Arrays.asList(rm.getRoisAsArray()));
		}
		Overlay ov = imp.getOverlay();
		List<Roi> out = new ArrayList<>();
		if (ov != null) for (Roi r : ov.toArray()) out.add(r);
		return out;
	}

	/** Predicted polygons as ImageJ ROIs named sparsecell-pred-ID, on plane z (0-based) of imp when a stack. */
	public static List<Roi> toRois(List<Protocol.PolygonRoi> polygons, ImagePlus imp, int z, Color colour) {
		List<Roi> out = new ArrayList<>();
		boolean stack = NdArrays.planes(imp).length > 1;
		for (Protocol.PolygonRoi p : polygons) {
			int n = p.points.length;
			if (n < 3) continue;
			float[] xs = new float[n], ys = new float[n];
			for (int i = 0; i < n; i++) {
				ys[i] = (float) p.points[i][0];
				xs[i] = (float) p.points[i][1];
			}
			PolygonRoi roi = new PolygonRoi(xs, ys, n, Roi.POLYGON);
			roi.setName(RoiLabels.PREDICTION_PREFIX + p.id);
			roi.setProperty("score", String.format(java.util.Locale.ROOT, "%.4f", p.score));
			if (colour != null) roi.setStrokeColor(colour);
			if (stack) setPlane(roi, imp, z);
			out.add(roi);
		}
		return out;
	}

	private static void setPlane(Roi roi, ImagePlus imp, int z) {
		if (imp.isHyperStack() || imp.getNChannels() > 1) {
			boolean alongT = imp.getNSlices() == 1 && imp.getNFrames() > 1;
			roi.setPosition(0, alongT ? 1 : z + 1, alongT ? z + 1 : imp.getT());
		}
		else {
			roi.setPosition(z + 1);
		}
	}

	/**
	 * Put predicted ROIs into the ROI Manager or the Overlay, replacing earlier predictions there (annotations
	 * stay). Returns where they went ("ROI Manager" or "Overlay").
	 */
	public static String write(String target, ImagePlus imp, List<Roi> rois) {
		if (ROI_MANAGER.equals(target)) {
			RoiManager rm = roiManager(true);
			if (rm != null) {
				Roi[] all = rm.getRoisAsArray();
				boolean hadPredictions = false;
				for (Roi r : all) hadPredictions |= RoiLabels.isPrediction(r);
				if (hadPredictions) {
					rm.reset();
					for (Roi r : all) if (!RoiLabels.isPrediction(r)) rm.addRoi(r);
				}
				for (Roi r : rois) rm.addRoi(r);
				return ROI_MANAGER;
			}
			IJ.log("sparsecell: no ROI Manager in this headless JVM; predicted ROIs go to the image overlay");
		}
		replaceOverlayPredictions(imp, rois);
		return OVERLAY;
	}

	/** Replace the sparsecell-pred-* ROIs of imp's overlay with rois (other overlay ROIs stay). */
	public static void replaceOverlayPredictions(ImagePlus imp, List<Roi> rois) {
		Overlay ov = imp.getOverlay();
		if (ov == null) ov = new Overlay();
		for (Roi r : ov.toArray()) if (RoiLabels.isPrediction(r)) ov.remove(r);
		for (Roi r : rois) ov.add(r);
		imp.setOverlay(ov);
	}
}
