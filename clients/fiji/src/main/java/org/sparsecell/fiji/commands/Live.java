package org.sparsecell.fiji.commands;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

import ij.ImagePlus;

import org.sparsecell.fiji.LiveMode;
import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.imaging.RoiIO;
import org.sparsecell.fiji.protocol.Protocol.ModelTrainParams;
import org.sparsecell.fiji.protocol.Protocol.TrainOptions;

/**
 * Plugins › sparsecell › sparsecell Live Mode: start (or stop) live training on the current image; predictions
 * for the visible region appear as an overlay and refresh while you keep adding ROIs (re-sent every interval).
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Live Mode", label = "sparsecell Live Mode")
public class Live extends SparsecellCommand {

	@Parameter(label = "Image")
	public ImagePlus imp;

	@Parameter(label = "Action", choices = { "start", "stop" })
	public String action = "start";

	@Parameter(label = "Labels from", choices = { RoiIO.ROI_MANAGER, RoiIO.OVERLAY })
	public String source = RoiIO.ROI_MANAGER;

	@Parameter(label = "Background ROI colour", choices = { "none", "red", "green", "blue", "yellow", "magenta", "cyan", "orange", "black", "white", "gray" })
	public String backgroundColour = "none";

	@Parameter(label = "Re-send labels every (ms)", min = "200")
	public int intervalMs = 1000;

	@Parameter(label = "Patch size (0 = daemon default)", min = "0")
	public int patchSize = 0;

	@Parameter(label = "Batch size (0 = daemon default)", min = "0")
	public int batchSize = 0;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): job id. */
	public String jobId;

	/** The live mode started (null after stop). */
	public LiveMode liveMode;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		if ("stop".equals(action)) {
			LiveMode l = s.live();
			// a command (a macro line) waits until the daemon has ended the job, so the next line can train at once
			if (l != null) l.stop(30_000);
			return;
		}
		if (imp == null) throw new IllegalArgumentException("no image");
		ModelTrainParams p = new ModelTrainParams();
		if (patchSize > 0 || batchSize > 0) {
			p.options = new TrainOptions();
			p.options.patchSize = positiveOrNull(patchSize);
			p.options.batchSize = positiveOrNull(batchSize);
		}
		liveMode = LiveMode.start(s, imp, source, colour(backgroundColour), p, Math.max(200, intervalMs));
		jobId = liveMode.jobId();
	}
}
