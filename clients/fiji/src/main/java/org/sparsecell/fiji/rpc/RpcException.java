package org.sparsecell.fiji.rpc;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * A JSON-RPC error answered by the daemon (code, message, data), or a client-side failure
 * ({@link #CONNECTION_CLOSED}, {@link #TIMEOUT}). Codes mirror protocol/src/errors.ts.
 */
public class RpcException extends Exception {
	private static final long serialVersionUID = 1L;

	public static final int PARSE_ERROR = -32700;
	public static final int INVALID_REQUEST = -32600;
	public static final int METHOD_NOT_FOUND = -32601;
	public static final int INVALID_PARAMS = -32602;
	public static final int INTERNAL_ERROR = -32603;
	public static final int REQUEST_CANCELLED = -32800;
	public static final int SESSION_NOT_FOUND = -32801;
	public static final int IMAGE_NOT_FOUND = -32802;
	public static final int SHAPE_MISMATCH = -32803;
	public static final int INVALID_LABELS = -32804;
	public static final int RESOURCE_LIMIT = -32805;
	public static final int MODEL_NOT_TRAINED = -32806;
	public static final int SESSION_BUSY = -32807;
	public static final int JOB_NOT_FOUND = -32808;
	public static final int INVALID_MODEL = -32809;
	public static final int INVALID_IMAGE = -32810;
	public static final int STORAGE_CORRUPT = -32812;
	/** Client side: the connection closed before the answer came. */
	public static final int CONNECTION_CLOSED = -32099;
	/** Client side: no answer within the call timeout. */
	public static final int TIMEOUT = -32098;

	private final int code;
	private final transient JsonElement data;

	public RpcException(int code, String message, JsonElement data) {
		super(message);
		this.code = code;
		this.data = data;
	}

	public RpcException(int code, String message, Throwable cause) {
		super(message, cause);
		this.code = code;
		this.data = null;
	}

	/** From a JSON-RPC error object {code, message, data?}. */
	public static RpcException fromError(JsonObject error) {
		int code = error.has("code") ? error.get("code").getAsInt() : INTERNAL_ERROR;
		String message = error.has("message") && !error.get("message").isJsonNull() ? error.get("message").getAsString() : "error " + code;
		return new RpcException(code, message, error.get("data"));
	}

	public int getCode() {
		return code;
	}

	/** The error's data (for -32602: [{path, message}, ...]), or null. */
	public JsonElement getData() {
		return data;
	}

	/** The "path" of every {path, message} entry in data (invalid params), in order. */
	public List<String> getDataPaths() {
		if (data == null || !data.isJsonArray()) return Collections.emptyList();
		List<String> paths = new ArrayList<>();
		JsonArray arr = data.getAsJsonArray();
		for (JsonElement e : arr) {
			if (e.isJsonObject() && e.getAsJsonObject().has("path")) paths.add(e.getAsJsonObject().get("path").getAsString());
		}
		return paths;
	}

	@Override
	public String toString() {
		return "RpcException(" + code + "): " + getMessage() + (data != null ? " " + data : "");
	}
}
