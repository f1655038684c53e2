package org.sparsecell.fiji.commands;

import java.util.Locale;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

import ij.IJ;
import ij.ImagePlus;

import org.sparsecell.fiji.LiveMode;
import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.Suggestions;
import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.ModelSuggestParams;
import org.sparsecell.fiji.protocol.Protocol.ModelSuggestResult;

/**
 * Plugins › sparsecell › sparsecell Suggest: what to annotate next in the visible part of the current image/plane
 * (model.suggest): the objects and areas that would teach the model most, drawn as an overlay of rectangles named
 * with their reason (objects magenta, areas cyan). "Go to next suggestion" then visits them, best first.
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Suggest", label = "sparsecell Suggest")
public class Suggest extends SparsecellCommand {

	@Parameter(label = "Image")
	public ImagePlus imp;

	@Parameter(label = "Suggestions (at most)", min = "1", max = "100")
	public int count = 10;

	/** Result (a field, not a displayed output): how many suggestions came back. */
	public int suggestions;

	/** Result: the model version that made them. */
	public int modelVersion;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		if (imp == null) throw new IllegalArgumentException("no image");
		Sparsecell.ImageLink link = s.link(imp);
		ModelSuggestParams p = new ModelSuggestParams();
		p.sessionId = s.sessionId;
		p.imageId = link.imageId;
		p.region = LiveMode.visibleRegion(imp);
		p.z = link.planes > 1 ? RoiLabels.currentPlane(imp) : null;
		p.count = count;
		IJ.showStatus("sparsecell: looking for what to annotate next...");
		ModelSuggestResult r = s.client.modelSuggest(p);
		Suggestions sug = new Suggestions(imp, r.suggestions);
		sug.draw();
		s.setSuggestions(sug);
		suggestions = r.suggestions.size();
		modelVersion = r.modelVersion;
		IJ.showStatus(String.format(Locale.ROOT, "sparsecell: %d suggestions (model v%d): Go to next suggestion visits them", suggestions, modelVersion));
	}
}
