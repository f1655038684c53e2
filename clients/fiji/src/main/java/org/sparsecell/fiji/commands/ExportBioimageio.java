package org.sparsecell.fiji.commands;

import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;
import org.scijava.widget.FileWidget;

import ij.IJ;

import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.protocol.Protocol.ModelExportParams;
import org.sparsecell.fiji.protocol.Protocol.ModelExportResult;

/**
 * Plugins › sparsecell › sparsecell Export for bioimage.io…: save the session's model as a bioimage.io model package
 * (zip: rdf.yaml, ONNX weights, test tensors, cover, README) for deepImageJ, ilastik, bioimageio.core and the
 * BioImage Model Zoo.
 */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Export for bioimage.io...", label = "sparsecell Export for bioimage.io")
public class ExportBioimageio extends SparsecellCommand {

	@Parameter(label = "Package file (.zip)", style = FileWidget.SAVE_STYLE)
	public File file;

	@Parameter(label = "Model name", required = false, description = "5-128 letters, digits, spaces, _+-(); empty = a name from the model family")
	public String name = "";

	@Parameter(label = "Authors (separated by ;)", required = false)
	public String authors = "";

	@Parameter(label = "License (SPDX id)", required = false)
	public String license = "CC-BY-4.0";

	/** Result (a field, not a displayed output, so Fiji opens no window for it): bytes written. */
	public long bytes;

	@Override
	protected void execute() throws Exception {
		Sparsecell s = session();
		ModelExportParams p = new ModelExportParams();
		p.sessionId = s.sessionId;
		p.format = "bioimageio";
		if (name != null && !name.trim().isEmpty()) p.name = name.trim();
		if (license != null && !license.trim().isEmpty()) p.license = license.trim();
		if (authors != null && !authors.trim().isEmpty()) {
			List<String> list = new ArrayList<>();
			for (String a : authors.split(";")) if (!a.trim().isEmpty()) list.add(a.trim());
			p.authors = list;
		}
		ModelExportResult r = s.client.modelExport(p);
		byte[] b = Base64.getDecoder().decode(r.model);
		File parent = file.getAbsoluteFile().getParentFile();
		if (parent != null) Files.createDirectories(parent.toPath());
		Files.write(file.toPath(), b);
		bytes = b.length;
		IJ.showStatus("sparsecell: bioimage.io package of the " + r.family + " model v" + r.modelVersion + " saved to " + file + " (" + b.length + " bytes)");
	}
}
