package org.sparsecell.fiji.commands;

import org.scijava.command.Command;
import org.scijava.plugin.Plugin;

import ij.IJ;

import org.sparsecell.fiji.LiveMode;
import org.sparsecell.fiji.Sparsecell;

/** Plugins › sparsecell › sparsecell Cancel: stop the running training (and live mode). */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Cancel", label = "sparsecell Cancel")
public class Cancel extends SparsecellCommand {

	/** Result (a field, not a displayed output, so Fiji opens no window for it): cancelled. */
	public boolean cancelled;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		LiveMode l = s.live();
		if (l != null) l.stop();
		cancelled = s.cancelTraining();
		IJ.showStatus(cancelled ? "sparsecell: training cancelled" : "sparsecell: no training was running");
	}
}
