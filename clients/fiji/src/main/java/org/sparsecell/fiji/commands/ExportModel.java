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
import org.sparsecell.fiji.protocol.Protocol.ModelExportResult;

/** Plugins › sparsecell › sparsecell Export Model: save the session's trained model as one archive file. */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Export Model", label = "sparsecell Export Model")
public class ExportModel extends SparsecellCommand {

	@Parameter(label = "Model file", style = FileWidget.SAVE_STYLE)
	public File file;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): model version. */
	public int modelVersion;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): bytes. */
	public long bytes;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		ModelExportResult r = s.client.modelExport(s.sessionId);
		byte[] b = Base64.getDecoder().decode(r.model);
		File parent = file.getAbsoluteFile().getParentFile();
		if (parent != null) Files.createDirectories(parent.toPath());
		Files.write(file.toPath(), b);
		modelVersion = r.modelVersion;
		bytes = b.length;
		IJ.showStatus("sparsecell: " + r.family + " model v" + r.modelVersion + " saved to " + file + " (" + b.length + " bytes)");
	}
}
