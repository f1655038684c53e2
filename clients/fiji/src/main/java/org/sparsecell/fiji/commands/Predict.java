package org.sparsecell.fiji.commands;

import java.util.List;
import java.util.Locale;

import org.scijava.ItemIO;
import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Roi;
import ij.process.ImageProcessor;
import ij.process.LUT;

import org.sparsecell.fiji.LiveMode;
import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.imaging.RoiIO;
import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.ModelPredictResult;
import org.sparsecell.fiji.protocol.Protocol.ProgressParams;

/**
 * Plugins › sparsecell › sparsecell Predict: segment the current image/plane with the session model; objects go to
 * the ROI Manager (named sparsecell-pred-ID, replacing earlier predictions), a label image, or both. Tiling
 * progress in the status bar; Esc cancels.
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Predict", label = "sparsecell Predict")
public class Predict extends SparsecellCommand {

	public static final String LABEL_IMAGE = "Label image";
	public static final String BOTH = "Both";

	@Parameter(label = "Image")
	public ImagePlus imp;

	@Parameter(label = "Output", choices = { "Both", "ROI Manager", "Label image", "Overlay" })
	public String output = BOTH;

	@Parameter(label = "Probability threshold (0 = model default)", min = "0", max = "1", stepSize = "0.05")
	public double probThresh = 0;

	@Parameter(label = "Overlap (NMS) threshold (0 = model default)", min = "0", max = "1", stepSize = "0.05")
	public double nmsThresh = 0;

	@Parameter(type = ItemIO.OUTPUT, label = "Label Image")
	public ImagePlus labelImage;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): objects. */
	public int objects;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): model version. */
	public int modelVersion;

	/** Where the ROIs went (ROI Manager, or Overlay in a headless JVM). */
	public String roisWentTo;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		if (imp == null) throw new IllegalArgumentException("no image");
		int z = RoiLabels.currentPlane(imp);
		IJ.resetEscape();
		IJ.showStatus("sparsecell: predicting " + imp.getTitle() + "...");
		ModelPredictResult r = s.predict(imp, z, positiveOrNull(probThresh), positiveOrNull(nmsThresh), Predict::show, IJ::escapePressed);
		objects = r.polygons.size();
		modelVersion = r.modelVersion;
		if (!LABEL_IMAGE.equals(output)) {
			List<Roi> rois = RoiIO.toRois(r.polygons, imp, z, LiveMode.PREDICTION_COLOUR);
			roisWentTo = RoiIO.write(RoiIO.OVERLAY.equals(output) ? RoiIO.OVERLAY : RoiIO.ROI_MANAGER, imp, rois);
		}
		if (LABEL_IMAGE.equals(output) || BOTH.equals(output)) {
			ImageProcessor ip = Sparsecell.labelPlane(r.labels, r.region, imp.getWidth(), imp.getHeight());
			labelImage = new ImagePlus(labelTitle(imp.getTitle()), ip);
			labelImage.setCalibration(imp.getCalibration());
			labelImage.getProcessor().setLut(labelLut());
			labelImage.setDisplayRange(0, 255);
		}
		IJ.showProgress(1.0);
		IJ.showStatus(String.format(Locale.ROOT, "sparsecell: %d objects (model v%d, labels generation %d)", objects, modelVersion, r.generation));
	}

	/** Distinct colours for object ids (0 black), like Fiji's glasbey LUTs, made here so no LUT file is needed. */
	public static LUT labelLut() {
		byte[] r = new byte[256], g = new byte[256], b = new byte[256];
		for (int i = 1; i < 256; i++) {
			java.awt.Color c = java.awt.Color.getHSBColor((float) ((i * 0.618033988749895) % 1.0), i % 3 == 0 ? 0.55f : 0.85f, i % 2 == 0 ? 1f : 0.8f);
			r[i] = (byte) c.getRed();
			g[i] = (byte) c.getGreen();
			b[i] = (byte) c.getBlue();
		}
		return new LUT(r, g, b);
	}

	static String labelTitle(String title) {
		String base = title == null ? "image" : title.replaceFirst("\\.[A-Za-z0-9]{1,5}$", "");
		return base + "-labels";
	}

	static void show(ProgressParams p) {
		if (p.percentage != null) IJ.showProgress(p.percentage / 100.0);
		else if (p.step != null && p.steps != null && p.steps > 0) IJ.showProgress(p.step, p.steps);
		String m = p.message != null ? p.message : p.step != null && p.steps != null ? "tile " + p.step + "/" + p.steps : "";
		IJ.showStatus("sparsecell: predicting " + m + " (Esc cancels)");
	}
}
