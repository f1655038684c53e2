package org.sparsecell.fiji.commands;

import org.scijava.command.Command;
import org.scijava.plugin.Plugin;

import ij.IJ;

import org.sparsecell.fiji.Sparsecell;

/** Plugins › sparsecell › sparsecell Disconnect: stop live mode, close the connection (and a daemon Connect started). */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Disconnect", label = "sparsecell Disconnect")
public class Disconnect extends SparsecellCommand {
	@Override
	protected void execute() {
		Sparsecell.disconnect();
		IJ.showStatus("sparsecell: disconnected");
	}
}
