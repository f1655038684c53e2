package org.sparsecell.fiji.commands;

import java.time.Duration;
import java.util.Locale;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

import ij.IJ;

import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.protocol.Protocol.ModelTrainParams;
import org.sparsecell.fiji.protocol.Protocol.ProgressParams;
import org.sparsecell.fiji.protocol.Protocol.TrainOptions;

/**
 * Plugins › sparsecell › sparsecell Train: train the session model on the labels sent so far, for a number of steps
 * or live (until Cancel). Progress in the status bar; Esc or "sparsecell Cancel" stops it.
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Train", label = "sparsecell Train")
public class Train extends SparsecellCommand {

	@Parameter(label = "Model family", choices = { "session", "stardist", "cellpose", "elephant" }, description = "session = the family the session was created with")
	public String family = "session";

	@Parameter(label = "Steps", min = "1")
	public int steps = 200;

	@Parameter(label = "Live (keep training as labels change, until Cancel)")
	public boolean live = false;

	@Parameter(label = "Patch size (0 = daemon default)", min = "0")
	public int patchSize = 0;

	@Parameter(label = "Batch size (0 = daemon default)", min = "0")
	public int batchSize = 0;

	@Parameter(label = "Start from fresh weights")
	public boolean reset = false;

	@Parameter(label = "Wait until training ends")
	public boolean waitForEnd = true;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): job id. */
	public String jobId;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): state. */
	public String state;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): final loss. */
	public double loss = Double.NaN;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): steps done. */
	public int stepsDone;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		ModelTrainParams p = new ModelTrainParams();
		p.family = "session".equals(family) || family == null || family.isEmpty() ? null : family;
		p.steps = live ? null : steps;
		p.live = live ? Boolean.TRUE : null;
		p.reset = reset ? Boolean.TRUE : null;
		if (patchSize > 0 || batchSize > 0) {
			p.options = new TrainOptions();
			p.options.patchSize = positiveOrNull(patchSize);
			p.options.batchSize = positiveOrNull(batchSize);
		}
		IJ.resetEscape();
		jobId = s.startTraining(p);
		state = "running";
		IJ.showStatus("sparsecell: training " + jobId + (live ? " (live: sparsecell Cancel stops it)" : ""));
		if (live || !waitForEnd) return;
		ProgressParams end = s.awaitJob(jobId, Train::show, IJ::escapePressed, Duration.ofHours(24));
		state = end.state;
		if (end.loss != null) loss = end.loss;
		if (end.step != null) stepsDone = end.step;
		IJ.showProgress(1.0);
		IJ.showStatus(String.format(Locale.ROOT, "sparsecell: training %s %s after %d steps%s", jobId, state, stepsDone, Double.isNaN(loss) ? "" : String.format(Locale.ROOT, ", loss %.4f", loss)));
		if ("failed".equals(state)) throw new IllegalStateException("training failed: " + end.error);
	}

	static void show(ProgressParams p) {
		if (p.step != null && p.steps != null && p.steps > 0) IJ.showProgress(p.step, p.steps);
		else if (p.percentage != null) IJ.showProgress(p.percentage / 100.0);
		StringBuilder b = new StringBuilder("sparsecell: training");
		if (p.step != null) b.append(" step ").append(p.step).append(p.steps != null ? "/" + p.steps : "");
		if (p.loss != null) b.append(String.format(Locale.ROOT, ", loss %.4f", p.loss));
		if (p.etaS != null) b.append(String.format(Locale.ROOT, ", %.0f s left", p.etaS));
		b.append(" (Esc cancels)");
		IJ.showStatus(b.toString());
	}
}
