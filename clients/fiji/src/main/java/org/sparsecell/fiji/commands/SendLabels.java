package org.sparsecell.fiji.commands;

import java.util.Arrays;
import java.util.List;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.Roi;
import ij.process.ImageProcessor;

import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.imaging.NdArrays;
import org.sparsecell.fiji.imaging.RoiIO;
import org.sparsecell.fiji.imaging.RoiLabels;

/**
 * Plugins › sparsecell › sparsecell Send Labels: the sparse labels of the current image and plane, from the ROI
 * Manager / Overlay (each ROI an object; ROIs named or grouped "background", or in the background colour, are
 * background; everything else stays unlabeled) or from an offset1 label image. Only the box that changed since
 * the last send travels (labels.update with origin).
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Send Labels", label = "sparsecell Send Labels")
public class SendLabels extends SparsecellCommand {

	public static final String LABEL_IMAGE = "Label image";

	@Parameter(label = "Image")
	public ImagePlus imp;

	@Parameter(label = "Labels from", choices = { RoiIO.ROI_MANAGER, RoiIO.OVERLAY, LABEL_IMAGE })
	public String source = RoiIO.ROI_MANAGER;

	@Parameter(label = "Label image title (0 unlabeled, 1 background, k+1 object k)", required = false)
	public String labelImage = "";

	@Parameter(label = "Background ROI colour", choices = { "none", "red", "green", "blue", "yellow", "magenta", "cyan", "orange", "black", "white", "gray" })
	public String backgroundColour = "none";

	@Parameter(label = "Kind", choices = { "annotation", "correction" })
	public String kind = "annotation";

	/** Result (a field, not a displayed output, so Fiji opens no window for it): label generation. */
	public int generation;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): objects in image. */
	public int objects;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): sent. */
	public boolean sent;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		if (imp == null) throw new IllegalArgumentException("no image");
		int z = RoiLabels.currentPlane(imp);
		int[] labels;
		if (LABEL_IMAGE.equals(source)) {
			ImagePlus li = findImage(labelImage);
			if (li.getWidth() != imp.getWidth() || li.getHeight() != imp.getHeight()) {
				throw new IllegalArgumentException("label image \"" + li.getTitle() + "\" is " + li.getWidth() + "x" + li.getHeight() + ", the image " + imp.getWidth() + "x" + imp.getHeight());
			}
			ImageProcessor[] planes = NdArrays.planes(li);
			labels = RoiLabels.fromLabelImage(planes.length == NdArrays.planes(imp).length ? planes[z] : li.getProcessor());
		}
		else {
			List<Roi> rois = RoiLabels.forPlane(RoiIO.read(source, imp), imp, z);
			labels = RoiLabels.rasterize(rois, imp.getWidth(), imp.getHeight(), colour(backgroundColour));
		}
		IJ.showStatus("sparsecell: sending labels of " + imp.getTitle() + "...");
		Sparsecell.SendResult r = s.sendLabels(imp, z, labels, kind);
		sent = r.sent;
		if (r.sent) {
			generation = r.result.generation;
			objects = r.result.counts.objects;
			IJ.showStatus("sparsecell: labels sent (box " + Arrays.toString(r.box) + "), generation " + generation + ", " + r.result.counts);
		}
		else {
			generation = s.client.sessionGet(s.sessionId).generation;
			IJ.showStatus("sparsecell: labels unchanged since the last send");
		}
	}

	/** An open image (or a batch-mode macro image) by title. */
	static ImagePlus findImage(String title) {
		if (title == null || title.trim().isEmpty()) throw new IllegalArgumentException("give the title of the label image");
		ImagePlus li = WindowManager.getImage(title.trim());
		if (li == null) throw new IllegalArgumentException("no open image titled \"" + title + "\"");
		return li;
	}
}
