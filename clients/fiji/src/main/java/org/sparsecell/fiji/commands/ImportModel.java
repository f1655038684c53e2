package org.sparsecell.fiji.commands;

import java.io.File;
import java.nio.file.Files;
import java.util.Base64;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;
import org.scijava.widget.FileWidget;

import ij.IJ;

import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.protocol.Protocol.ModelImportResult;

/**
 * Plugins › sparsecell › sparsecell Import Model: load a model archive (from Export Model or the CLI) into the
 * session, or a bioimage.io package (.zip) that sparsecell exported.
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Import Model", label = "sparsecell Import Model")
public class ImportModel extends SparsecellCommand {

	@Parameter(label = "Model file", style = FileWidget.OPEN_STYLE)
	public File file;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): family. */
	public String family;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): model version. */
	public int modelVersion;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		if (!file.isFile()) throw new IllegalArgumentException("no model file " + file);
		String b64 = Base64.getEncoder().encodeToString(Files.readAllBytes(file.toPath()));
		String format = file.getName().toLowerCase().endsWith(".zip") ? "bioimageio" : null;
		ModelImportResult r = s.client.modelImport(s.sessionId, b64, format);
		family = r.family;
		modelVersion = r.modelVersion;
		IJ.showStatus("sparsecell: imported " + r.family + " model v" + r.modelVersion + " from " + file.getName());
	}
}
