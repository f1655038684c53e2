package org.sparsecell.fiji.commands;

import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;
import org.scijava.widget.TextWidget;

import ij.IJ;

import org.sparsecell.fiji.LocalDaemon;
import org.sparsecell.fiji.Sparsecell;

/** Plugins › sparsecell › sparsecell Connect: connect to a daemon (or start one) and open a session. */
@Plugin(type = Command.class, headless = true, menuPath = "Plugins>sparsecell>sparsecell Connect", label = "sparsecell Connect")
public class Connect extends SparsecellCommand {

	@Parameter(label = "Daemon URL", description = "ws://host:port of a running sparsecell daemon")
	public String url = "ws://127.0.0.1:7420";

	@Parameter(label = "Token", style = TextWidget.PASSWORD_STYLE, required = false, persist = false, description = "Needed when the daemon listens beyond this computer")
	public String token = "";

	@Parameter(label = "Start local daemon (sparsecell on PATH)", description = "Runs `sparsecell serve --port 0` and connects to it")
	public boolean startLocal = false;

	@Parameter(label = "Session id (empty = new session)", required = false)
	public String session = "";

	@Parameter(label = "New session name", required = false)
	public String name = "fiji";

	@Parameter(label = "Model family", choices = { "stardist", "cellpose", "elephant" })
	public String family = "stardist";

	@Parameter(label = "Family config (JSON, optional)", required = false, description = "e.g. {\"nRays\": 32}")
	public String config = "";

	/** Result (a field, not a displayed output, so Fiji opens no window for it): session id. */
	public String sessionId;

	/** Result (a field, not a displayed output, so Fiji opens no window for it): daemon url. */
	public String daemonUrl;

	@Override
	protected void execute() throws Exception {
		LocalDaemon daemon = null;
		String target = url;
		if (startLocal) {
			IJ.showStatus("sparsecell: starting the local daemon...");
			daemon = LocalDaemon.startFromPath();
			target = daemon.url();
		}
		try {
			Sparsecell s = Sparsecell.connect(target, token, session, name, family, jsonObject(config, "Family config"), daemon);
			sessionId = s.sessionId;
			daemonUrl = target;
			IJ.showStatus("sparsecell: connected to " + target + ", session " + s.sessionId + " (" + s.family + ")");
			IJ.log("sparsecell: connected to " + target + ", session " + s.sessionId + " (" + s.family + ")");
		}
		catch (Exception e) {
			if (daemon != null) daemon.stop();
			throw e;
		}
	}
}
