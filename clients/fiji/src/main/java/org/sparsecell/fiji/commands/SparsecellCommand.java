package org.sparsecell.fiji.commands;

import java.awt.Color;
import java.awt.GraphicsEnvironment;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import ij.IJ;
import ij.plugin.Colors;

import org.scijava.command.ContextCommand;
import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.rpc.RpcException;

/**
 * Base of the sparsecell commands: runs {@link #execute()}, and turns failures into one clear message (Log window,
 * status bar, an error dialog when there is a screen) and a cancelled module with that reason, so a macro or a
 * headless run sees why. {@link #errorCode()} keeps the JSON-RPC code of a daemon error.
 */
public abstract class SparsecellCommand extends ContextCommand {

	public static final String[] FAMILIES = { "stardist", "cellpose", "elephant" };
	public static final String[] COLOURS = { "none", "red", "green", "blue", "yellow", "magenta", "cyan", "orange", "black", "white", "gray" };

	private Integer errorCode;
	private String error;

	@Override
	public final void run() {
		try {
			execute();
		}
		catch (RpcException e) {
			errorCode = e.getCode();
			fail("daemon error " + e.getCode() + ": " + e.getMessage() + (e.getData() != null ? " " + e.getData() : ""));
		}
		catch (RuntimeException | java.io.IOException e) {
			fail(e.getMessage() == null ? e.toString() : e.getMessage());
		}
		catch (Exception e) {
			fail(e.toString());
		}
	}

	protected abstract void execute() throws Exception;

	/** JSON-RPC error code of the failure, or null (no failure, or not a daemon error). */
	public Integer errorCode() {
		return errorCode;
	}

	/** The failure message, or null. */
	public String error() {
		return error;
	}

	protected void fail(String message) {
		error = message;
		IJ.log("sparsecell: " + message);
		IJ.showStatus("sparsecell: " + message);
		IJ.showProgress(1.0);
		if (!GraphicsEnvironment.isHeadless() && !IJ.isMacro()) IJ.error("sparsecell", message);
		cancel(message);
	}

	protected static Sparsecell session() {
		return Sparsecell.current();
	}

	/** A colour name (red, #ff0000, ...) or null for "none"/empty. */
	protected static Color colour(String name) {
		if (name == null || name.trim().isEmpty() || "none".equalsIgnoreCase(name.trim())) return null;
		Color c = Colors.decode(name.trim(), null);
		if (c == null) throw new IllegalArgumentException("unknown colour \"" + name + "\"");
		return c;
	}

	/** A JSON object typed into a dialog field, or null when empty. */
	protected static JsonObject jsonObject(String text, String what) {
		if (text == null || text.trim().isEmpty()) return null;
		JsonElement e;
		try {
			e = JsonParser.parseString(text.trim());
		}
		catch (RuntimeException ex) {
			throw new IllegalArgumentException(what + " is not valid JSON: " + ex.getMessage());
		}
		if (!e.isJsonObject()) throw new IllegalArgumentException(what + " must be a JSON object like {\"unetDepth\": 2}");
		return e.getAsJsonObject();
	}

	protected static Integer positiveOrNull(int v) {
		return v > 0 ? v : null;
	}

	protected static Double positiveOrNull(double v) {
		return v > 0 ? v : null;
	}
}
