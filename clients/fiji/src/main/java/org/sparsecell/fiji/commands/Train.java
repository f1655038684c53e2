package org.sparsecell.fiji.commands;

import java.io.File;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Base64;
import java.util.Locale;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;
import org.scijava.widget.FileWidget;

import ij.IJ;

import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.protocol.Protocol.ModelTrainParams;
import org.sparsecell.fiji.protocol.Protocol.ProgressParams;
import org.sparsecell.fiji.protocol.Protocol.ServerInfoResult;
import org.sparsecell.fiji.protocol.Protocol.SessionInfo;
import org.sparsecell.fiji.protocol.Protocol.StarterModel;
import org.sparsecell.fiji.protocol.Protocol.TrainOptions;

/**
 * Plugins › sparsecell › sparsecell Train: train the session model on the labels sent so far, for a time limit or a
 * number of steps, or live (until Cancel). "Start from" picks what the model begins as: the daemon's built-in nuclei
 * model (fine-tuned by the labels), fresh weights, or a model file. Defaults left at 0 are the daemon's recipe
 * (server.info.recipe). Progress in the status bar; Esc or "sparsecell Cancel" stops it.
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Train", label = "sparsecell Train")
public class Train extends SparsecellCommand {

	@Parameter(label = "Model family", choices = { "session", "stardist", "cellpose", "elephant" }, description = "session = the family the session was created with")
	public String family = "session";

	public static final String BUILT_IN = "built-in nuclei model";
	public static final String SCRATCH = "scratch";
	public static final String FILE = "file…";

	@Parameter(label = "Start from", choices = { BUILT_IN, SCRATCH, FILE }, description = "built-in: the daemon's trained nuclei model for the family, fine-tuned by your labels (it predicts before any training); scratch: fresh weights; file: a model exported before (then Model file)")
	public String startFrom = BUILT_IN;

	@Parameter(label = "Model file (Start from: file…)", required = false, style = FileWidget.OPEN_STYLE)
	// Never null: a macro line without modelfile= would leave it the one unresolved input, and SciJava's
	// FilePreprocessor would then open a file chooser (or cancel, headless) although no file is needed.
	public File modelFile = new File("");

	@Parameter(label = "Time limit (s, 0 = the daemon's recipe)", min = "0")
	public double timeLimit = 0;

	@Parameter(label = "Steps (0 = train for the time limit)", min = "0")
	public int steps = 0;

	@Parameter(label = "Live (keep training as labels change, until Cancel)")
	public boolean live = false;

	@Parameter(label = "Patch size (0 = daemon default)", min = "0")
	public int patchSize = 0;

	@Parameter(label = "Batch size (0 = daemon default)", min = "0")
	public int batchSize = 0;

	@Parameter(label = "Start over (from the session's starter model if it has one, else fresh weights)")
	public boolean reset = false;

	@Parameter(label = "Wait until training ends")
	public boolean waitForEnd = true;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): job id. */
	public String jobId;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): state. */
	public String state;
	/** Result: the job's progress messages (e.g. how a starter adapted to the images), also written to the Log. */
	public final java.util.List<String> messages = new java.util.ArrayList<>();

	/** Result (a field, not a displayed output, so Fiji opens no window for it): final loss. */
	public double loss = Double.NaN;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): steps done. */
	public int stepsDone;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		ModelTrainParams p = new ModelTrainParams();
		p.family = "session".equals(family) || family == null || family.isEmpty() ? null : family;
		p.steps = live || steps <= 0 ? null : steps;
		p.timeLimitS = live || steps > 0 || timeLimit <= 0 ? null : timeLimit;
		p.from = startFrom(s, p.family);
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
		ProgressParams end = s.awaitJob(jobId, pp -> {
			if (pp.message != null && !pp.message.isEmpty()) messages.add(pp.message);
			show(pp);
		}, IJ::escapePressed, Duration.ofHours(24));
		state = end.state;
		if (end.loss != null) loss = end.loss;
		if (end.step != null) stepsDone = end.step;
		IJ.showProgress(1.0);
		IJ.showStatus(String.format(Locale.ROOT, "sparsecell: training %s %s after %d steps%s", jobId, state, stepsDone, Double.isNaN(loss) ? "" : String.format(Locale.ROOT, ", loss %.4f", loss)));
		if ("failed".equals(state)) throw new IllegalStateException("training failed: " + end.error);
	}

	/**
	 * model.train's "from" for the chosen start (null: keep the session's model). A file is imported here, once per
	 * file and session. The session moves to a start only when it is not there already, so training again continues.
	 */
	String startFrom(Sparsecell s, String newFamily) throws Exception {
		String choice = startFrom == null ? BUILT_IN : startFrom;
		SessionInfo si = s.client.sessionGet(s.sessionId);
		String fam = newFamily != null ? newFamily : si.family;
		if (FILE.equals(choice)) {
			if (modelFile == null || !modelFile.isFile()) throw new IllegalArgumentException("Start from: file… needs a model file (got " + (modelFile == null || modelFile.getPath().isEmpty() ? "none" : modelFile) + ")");
			String path = modelFile.getCanonicalPath();
			if (!path.equals(s.startModelFile)) {
				s.client.modelImport(s.sessionId, Base64.getEncoder().encodeToString(Files.readAllBytes(modelFile.toPath())));
				s.startModelFile = path;
			}
			return null;
		}
		s.startModelFile = null;
		if (SCRATCH.equals(choice)) return si.starter != null ? "scratch" : null;
		if (!BUILT_IN.equals(choice)) throw new IllegalArgumentException("Start from must be one of: " + BUILT_IN + ", " + SCRATCH + ", " + FILE);
		ServerInfoResult info = s.client.serverInfo();
		boolean offered = false;
		if (info.starterModels != null) for (StarterModel m : info.starterModels) offered |= "nuclei".equals(m.name) && fam.equals(m.family);
		if (!offered) {
			IJ.log("sparsecell: the daemon has no built-in nuclei model for " + fam + "; training the session model instead");
			return null;
		}
		return "nuclei".equals(si.starter) && fam.equals(si.family) ? null : "starter";
	}

	static void show(ProgressParams p) {
		// e.g. how a starter adapted to the images (polarity, scale) before its first step
		if (p.message != null && !p.message.isEmpty()) IJ.log("sparsecell: " + p.message);
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
