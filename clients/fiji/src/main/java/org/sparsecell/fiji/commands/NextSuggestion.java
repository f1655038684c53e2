package org.sparsecell.fiji.commands;

import java.util.Locale;

import org.scijava.command.Command;
import org.scijava.plugin.Plugin;

import ij.IJ;

import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.Suggestions;
import org.sparsecell.fiji.protocol.Protocol.Suggestion;

/**
 * Plugins › sparsecell › Go to next suggestion: show the next suggestion of the last Suggest (or live update), best
 * first: its plane, the view centred on it and its rectangle selected. Recordable: run("Go to next suggestion").
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>Go to next suggestion", label = "Go to next suggestion")
public class NextSuggestion extends SparsecellCommand {

	/** Result (a field, not a displayed output): 1-based position of the suggestion shown. */
	public int position;

	/** Result: its kind (object, area), reason and score. */
	public String kind;
	public String reason;
	public double score;

	/** Result: its centre in image pixels. */
	public double centerX;
	public double centerY;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		Suggestions sug = s.suggestions();
		if (sug == null || sug.list().isEmpty()) throw new IllegalStateException("no suggestions yet: run sparsecell Suggest (or Live mode) first");
		Suggestion g = sug.next();
		position = sug.index() + 1;
		kind = g.kind;
		reason = g.reason;
		score = g.score;
		centerX = (g.region[1] + g.region[3]) / 2.0;
		centerY = (g.region[0] + g.region[2]) / 2.0;
		IJ.showStatus(String.format(Locale.ROOT, "sparsecell: suggestion %d/%d: %s (%s, score %.2f)", position, sug.list().size(), kind, reason, score));
	}
}
