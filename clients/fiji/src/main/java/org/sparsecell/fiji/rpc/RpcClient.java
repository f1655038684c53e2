package org.sparsecell.fiji.rpc;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Predicate;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import org.sparsecell.fiji.protocol.Protocol.*;

/**
 * JSON-RPC 2.0 client of the sparsecell daemon over one WebSocket (java.net.http, text frames).
 * <pre>
 * try (RpcClient c = RpcClient.connect("ws://127.0.0.1:7420", token)) {
 *     String sid = c.sessionCreate("demo", "stardist", null).sessionId;
 *     c.addProgressListener(p -&gt; IJ.showProgress(p.step, p.steps));
 *     ...
 * }
 * </pre>
 * Every protocol method has a typed call named after it (session.setView → {@link #sessionSetView}) that takes
 * its Params class and returns its Result class; errors come back as {@link RpcException} (code, message, data).
 * Notifications ($/progress, $/event, $/heartbeat) are delivered, in order, on one dispatch thread; responses
 * complete on the socket thread, so a listener may itself make blocking calls.
 */
public class RpcClient implements AutoCloseable {

	public static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
	public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(10);

	/** A call in flight: its request id (for {@link #cancelRequest}) and its answer. */
	public static final class PendingCall<T> {
		public final long id;
		public final CompletableFuture<T> future;

		PendingCall(long id, CompletableFuture<T> future) {
			this.id = id;
			this.future = future;
		}
	}

	private final String url;
	private final AtomicLong nextId = new AtomicLong(1);
	private final Map<String, CompletableFuture<JsonElement>> pending = new ConcurrentHashMap<>();
	private final CopyOnWriteArrayList<Consumer<ProgressParams>> progressListeners = new CopyOnWriteArrayList<>();
	private final CopyOnWriteArrayList<Consumer<EventParams>> eventListeners = new CopyOnWriteArrayList<>();
	private final CopyOnWriteArrayList<Consumer<String>> closeListeners = new CopyOnWriteArrayList<>();
	private final ExecutorService dispatch = Executors.newSingleThreadExecutor(r -> {
		Thread t = new Thread(r, "sparsecell-rpc-notifications");
		t.setDaemon(true);
		return t;
	});
	private final Object sendLock = new Object();
	private final Map<String, ProgressParams> recentEnds = new java.util.LinkedHashMap<String, ProgressParams>(16, 0.75f, false) {
		private static final long serialVersionUID = 1L;

		@Override
		protected boolean removeEldestEntry(Map.Entry<String, ProgressParams> eldest) {
			return size() > 256;
		}
	};
	private final CompletableFuture<Void> closed = new CompletableFuture<>();
	private volatile WebSocket ws;
	private volatile String lastHeartbeat;
	private volatile Duration timeout = DEFAULT_TIMEOUT;

	private RpcClient(String url) {
		this.url = url;
	}

	/** Connect to ws://host:port; token (may be null or empty) is sent as "Authorization: Bearer token". */
	public static RpcClient connect(String url, String token) throws IOException {
		return connect(url, token, Duration.ofSeconds(15));
	}

	public static RpcClient connect(String url, String token, Duration connectTimeout) throws IOException {
		RpcClient client = new RpcClient(url);
		HttpClient http = HttpClient.newBuilder().connectTimeout(connectTimeout).build();
		WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(connectTimeout);
		if (token != null && !token.isEmpty()) b.header("Authorization", "Bearer " + token);
		try {
			client.ws = b.buildAsync(URI.create(url), client.new Listener()).get(connectTimeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
		}
		catch (ExecutionException e) {
			Throwable c = e.getCause();
			client.dispatch.shutdownNow();
			if (c instanceof WebSocketHandshakeException) {
				int status = ((WebSocketHandshakeException) c).getResponse().statusCode();
				throw new IOException("connection to " + url + " refused: HTTP " + status + (status == 401 ? " (wrong or missing token)" : ""), c);
			}
			throw new IOException("cannot connect to " + url + ": " + c, c);
		}
		catch (TimeoutException e) {
			client.dispatch.shutdownNow();
			throw new IOException("cannot connect to " + url + ": timed out", e);
		}
		catch (InterruptedException e) {
			client.dispatch.shutdownNow();
			Thread.currentThread().interrupt();
			throw new IOException("interrupted while connecting to " + url, e);
		}
		catch (IllegalArgumentException e) {
			client.dispatch.shutdownNow();
			throw new IOException("bad daemon URL " + url + ": " + e.getMessage(), e);
		}
		return client;
	}

	public String getUrl() {
		return url;
	}

	public boolean isOpen() {
		return ws != null && !closed.isDone();
	}

	/** serverTime of the last $/heartbeat, or null. */
	public String getLastHeartbeat() {
		return lastHeartbeat;
	}

	/** Timeout of the blocking calls (default 10 minutes). */
	public void setTimeout(Duration timeout) {
		this.timeout = timeout;
	}

	// ---- generic calls -------------------------------------------------------------------------------

	/** Send a request; the future completes with the result or fails with an RpcException. */
	public PendingCall<JsonElement> callAsync(String method, Object params) {
		long id = nextId.getAndIncrement();
		CompletableFuture<JsonElement> f = new CompletableFuture<>();
		JsonObject req = new JsonObject();
		req.addProperty("jsonrpc", "2.0");
		req.addProperty("id", id);
		req.addProperty("method", method);
		req.add("params", params == null ? new JsonObject() : params instanceof JsonElement ? (JsonElement) params : GSON.toJsonTree(params));
		pending.put(Long.toString(id), f);
		if (closed.isDone()) {
			pending.remove(Long.toString(id));
			f.completeExceptionally(new RpcException(RpcException.CONNECTION_CLOSED, "connection to " + url + " is closed", (JsonElement) null));
		}
		else {
			try {
				sendText(GSON.toJson(req));
			}
			catch (IOException e) {
				pending.remove(Long.toString(id));
				f.completeExceptionally(new RpcException(RpcException.CONNECTION_CLOSED, e.getMessage(), e));
			}
		}
		return new PendingCall<>(id, f);
	}

	public <T> PendingCall<T> callAsync(String method, Object params, Class<T> resultType) {
		PendingCall<JsonElement> c = callAsync(method, params);
		return new PendingCall<>(c.id, c.future.thenApply(r -> GSON.fromJson(r, resultType)));
	}

	/** Blocking call; the raw JSON result. */
	public JsonElement call(String method, Object params) throws RpcException {
		return await(callAsync(method, params).future);
	}

	/** Blocking call; the result as resultType. */
	public <T> T call(String method, Object params, Class<T> resultType) throws RpcException {
		return GSON.fromJson(call(method, params), resultType);
	}

	/** Wait for a call's future within the client timeout, unwrapping RpcException. */
	public <T> T await(CompletableFuture<T> f) throws RpcException {
		try {
			return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
		}
		catch (ExecutionException | CompletionException e) {
			Throwable c = e.getCause();
			if (c instanceof RpcException) throw (RpcException) c;
			throw new RpcException(RpcException.INTERNAL_ERROR, String.valueOf(c), c);
		}
		catch (TimeoutException e) {
			throw new RpcException(RpcException.TIMEOUT, "no answer from " + url + " within " + timeout, e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new RpcException(RpcException.REQUEST_CANCELLED, "interrupted", e);
		}
	}

	/** $/cancelRequest {id}: the daemon answers that request with -32800 RequestCancelled. */
	public void cancelRequest(long id) throws IOException {
		CancelRequestParams p = new CancelRequestParams();
		p.id = new JsonPrimitive(id);
		notify("$/cancelRequest", p);
	}

	/** Send a client → server notification. */
	public void notify(String method, Object params) throws IOException {
		JsonObject n = new JsonObject();
		n.addProperty("jsonrpc", "2.0");
		n.addProperty("method", method);
		n.add("params", GSON.toJsonTree(params));
		sendText(GSON.toJson(n));
	}

	/** Send a raw text frame (tests of malformed input). */
	public void sendRaw(String text) throws IOException {
		sendText(text);
	}

	// ---- typed calls, one per protocol method --------------------------------------------------------

	public ServerInfoResult serverInfo(ServerInfoParams p) throws RpcException {
		return call("server.info", p, ServerInfoResult.class);
	}

	public ServerInfoResult serverInfo() throws RpcException {
		return serverInfo(new ServerInfoParams());
	}

	public SessionCreateResult sessionCreate(SessionCreateParams p) throws RpcException {
		return call("session.create", p, SessionCreateResult.class);
	}

	public SessionCreateResult sessionCreate(String name, String family, JsonObject config) throws RpcException {
		SessionCreateParams p = new SessionCreateParams();
		p.name = name;
		p.family = family;
		p.config = config;
		return sessionCreate(p);
	}

	public SessionListResult sessionList(SessionListParams p) throws RpcException {
		return call("session.list", p, SessionListResult.class);
	}

	public SessionListResult sessionList() throws RpcException {
		return sessionList(new SessionListParams());
	}

	public SessionGetResult sessionGet(SessionGetParams p) throws RpcException {
		return call("session.get", p, SessionGetResult.class);
	}

	public SessionGetResult sessionGet(String sessionId) throws RpcException {
		SessionGetParams p = new SessionGetParams();
		p.sessionId = sessionId;
		return sessionGet(p);
	}

	public SessionCloseResult sessionClose(SessionCloseParams p) throws RpcException {
		return call("session.close", p, SessionCloseResult.class);
	}

	public SessionCloseResult sessionClose(String sessionId, boolean delete) throws RpcException {
		SessionCloseParams p = new SessionCloseParams();
		p.sessionId = sessionId;
		p.delete = delete ? Boolean.TRUE : null;
		return sessionClose(p);
	}

	public SessionSetViewResult sessionSetView(SessionSetViewParams p) throws RpcException {
		return call("session.setView", p, SessionSetViewResult.class);
	}

	public SessionSetViewResult sessionSetView(String sessionId, String imageId, int[] region, Integer z) throws RpcException {
		SessionSetViewParams p = new SessionSetViewParams();
		p.sessionId = sessionId;
		p.imageId = imageId;
		p.region = region;
		p.z = z;
		return sessionSetView(p);
	}

	public ImageAddResult imageAdd(ImageAddParams p) throws RpcException {
		return call("image.add", p, ImageAddResult.class);
	}

	public LabelsUpdateResult labelsUpdate(LabelsUpdateParams p) throws RpcException {
		return call("labels.update", p, LabelsUpdateResult.class);
	}

	public LabelsGetResult labelsGet(LabelsGetParams p) throws RpcException {
		return call("labels.get", p, LabelsGetResult.class);
	}

	public LabelsGetResult labelsGet(String sessionId, String imageId, String encoding) throws RpcException {
		LabelsGetParams p = new LabelsGetParams();
		p.sessionId = sessionId;
		p.imageId = imageId;
		p.encoding = encoding;
		return labelsGet(p);
	}

	/** Starts training and answers {jobId} at once; progress comes as $/progress with token = jobId. */
	public ModelTrainResult modelTrain(ModelTrainParams p) throws RpcException {
		return call("model.train", p, ModelTrainResult.class);
	}

	public ModelConfigureResult modelConfigure(ModelConfigureParams p) throws RpcException {
		return call("model.configure", p, ModelConfigureResult.class);
	}

	public ModelPredictResult modelPredict(ModelPredictParams p) throws RpcException {
		return call("model.predict", p, ModelPredictResult.class);
	}

	/** model.predict as a cancellable call (cancel with {@link #cancelRequest}(call.id)). */
	public PendingCall<ModelPredictResult> modelPredictAsync(ModelPredictParams p) {
		return callAsync("model.predict", p, ModelPredictResult.class);
	}

	/** What to annotate next: objects and areas of a view, best first (never what is already labeled). */
	public ModelSuggestResult modelSuggest(ModelSuggestParams p) throws RpcException {
		return call("model.suggest", p, ModelSuggestResult.class);
	}

	public ModelCancelResult modelCancel(ModelCancelParams p) throws RpcException {
		return call("model.cancel", p, ModelCancelResult.class);
	}

	public ModelCancelResult modelCancel(String jobId) throws RpcException {
		ModelCancelParams p = new ModelCancelParams();
		p.jobId = jobId;
		return modelCancel(p);
	}

	public ModelExportResult modelExport(ModelExportParams p) throws RpcException {
		return call("model.export", p, ModelExportResult.class);
	}

	public ModelExportResult modelExport(String sessionId) throws RpcException {
		ModelExportParams p = new ModelExportParams();
		p.sessionId = sessionId;
		return modelExport(p);
	}

	public ModelImportResult modelImport(ModelImportParams p) throws RpcException {
		return call("model.import", p, ModelImportResult.class);
	}

	public ModelImportResult modelImport(String sessionId, String base64Model) throws RpcException {
		return modelImport(sessionId, base64Model, null);
	}

	/** format: null or "sparsecell" for an archive, "bioimageio" for a bioimage.io package sparsecell exported. */
	public ModelImportResult modelImport(String sessionId, String base64Model, String format) throws RpcException {
		ModelImportParams p = new ModelImportParams();
		p.sessionId = sessionId;
		p.model = base64Model;
		p.format = format;
		return modelImport(p);
	}

	/** The daemon's OpenRPC document. */
	public JsonObject rpcDiscover(RpcDiscoverParams p) throws RpcException {
		return call("rpc.discover", p).getAsJsonObject();
	}

	public JsonObject rpcDiscover() throws RpcException {
		return rpcDiscover(new RpcDiscoverParams());
	}

	// ---- listeners -----------------------------------------------------------------------------------

	/** Listen to $/progress; the returned Runnable removes the listener. */
	public Runnable addProgressListener(Consumer<ProgressParams> l) {
		progressListeners.add(l);
		return () -> progressListeners.remove(l);
	}

	/** Listen to $/event (prediction.updated, model.updated, session.closed, ...). */
	public Runnable addEventListener(Consumer<EventParams> l) {
		eventListeners.add(l);
		return () -> eventListeners.remove(l);
	}

	/** Called once with a reason when the connection closes. */
	public Runnable addCloseListener(Consumer<String> l) {
		closeListeners.add(l);
		return () -> closeListeners.remove(l);
	}

	/**
	 * A future of the first $/progress matching pred. Register it BEFORE starting the work it waits for
	 * (e.g. use {@link #progressEnd(String)} right after model.train returns: notifications are dispatched in
	 * order after the response, so none is missed).
	 */
	public CompletableFuture<ProgressParams> nextProgress(Predicate<ProgressParams> pred) {
		CompletableFuture<ProgressParams> f = new CompletableFuture<>();
		Consumer<ProgressParams> l = p -> {
			if (pred.test(p)) f.complete(p);
		};
		progressListeners.add(l);
		f.whenComplete((r, e) -> progressListeners.remove(l));
		closed.whenComplete((r, e) -> f.completeExceptionally(new RpcException(RpcException.CONNECTION_CLOSED, "connection closed", (JsonElement) null)));
		return f;
	}

	/**
	 * Future of the "end" $/progress of a token (a jobId). Race-free: ends already received (the last 256)
	 * are remembered, so this may be called after the job finished.
	 */
	public CompletableFuture<ProgressParams> progressEnd(String token) {
		CompletableFuture<ProgressParams> f = nextProgress(p -> p.isEnd() && token.equals(p.tokenString()));
		ProgressParams done;
		synchronized (recentEnds) {
			done = recentEnds.get(token);
		}
		if (done != null) f.complete(done);
		return f;
	}

	private void rememberEnd(ProgressParams p) {
		synchronized (recentEnds) {
			recentEnds.put(p.tokenString(), p);
		}
	}

	/** A future of the first $/event matching pred. */
	public CompletableFuture<EventParams> nextEvent(Predicate<EventParams> pred) {
		CompletableFuture<EventParams> f = new CompletableFuture<>();
		Consumer<EventParams> l = e -> {
			if (pred.test(e)) f.complete(e);
		};
		eventListeners.add(l);
		f.whenComplete((r, e) -> eventListeners.remove(l));
		closed.whenComplete((r, e) -> f.completeExceptionally(new RpcException(RpcException.CONNECTION_CLOSED, "connection closed", (JsonElement) null)));
		return f;
	}

	// ---- lifecycle -----------------------------------------------------------------------------------

	@Override
	public void close() {
		WebSocket w = ws;
		if (w != null && !closed.isDone()) {
			try {
				w.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(2, TimeUnit.SECONDS);
				closed.get(2, TimeUnit.SECONDS);
			}
			catch (Exception e) {
				// fall through to abort
			}
			w.abort();
		}
		onClosed("closed by client");
	}

	// ---- internals -----------------------------------------------------------------------------------

	private void sendText(String text) throws IOException {
		WebSocket w = ws;
		if (w == null || closed.isDone()) throw new IOException("connection to " + url + " is closed");
		synchronized (sendLock) {
			try {
				w.sendText(text, true).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				throw new IOException("interrupted while sending", e);
			}
			catch (ExecutionException | TimeoutException e) {
				throw new IOException("send to " + url + " failed: " + e.getCause(), e);
			}
		}
	}

	private void onClosed(String reason) {
		if (closed.complete(null)) {
			RpcException ex = new RpcException(RpcException.CONNECTION_CLOSED, "connection to " + url + " closed (" + reason + ")", (JsonElement) null);
			for (CompletableFuture<JsonElement> f : pending.values()) f.completeExceptionally(ex);
			pending.clear();
			dispatch.execute(() -> {
				for (Consumer<String> l : closeListeners) safely(l, reason);
			});
			dispatch.shutdown();
		}
	}

	private void receive(String text) {
		JsonElement msg;
		try {
			msg = JsonParser.parseString(text);
		}
		catch (RuntimeException e) {
			return;
		}
		if (msg.isJsonArray()) for (JsonElement m : msg.getAsJsonArray()) receiveOne(m);
		else receiveOne(msg);
	}

	private void receiveOne(JsonElement m) {
		if (!m.isJsonObject()) return;
		JsonObject o = m.getAsJsonObject();
		if (o.has("method")) {
			String method = o.get("method").getAsString();
			JsonElement params = o.get("params");
			if ("$/progress".equals(method)) {
				ProgressParams p = GSON.fromJson(params, ProgressParams.class);
				if (p.isEnd() && p.token != null) rememberEnd(p);
				dispatch.execute(() -> {
					for (Consumer<ProgressParams> l : progressListeners) safely(l, p);
				});
			}
			else if ("$/event".equals(method)) {
				EventParams e = GSON.fromJson(params, EventParams.class);
				dispatch.execute(() -> {
					for (Consumer<EventParams> l : eventListeners) safely(l, e);
				});
			}
			else if ("$/heartbeat".equals(method) && params != null && params.isJsonObject()) {
				HeartbeatParams h = GSON.fromJson(params, HeartbeatParams.class);
				lastHeartbeat = h.serverTime;
			}
			return;
		}
		JsonElement id = o.get("id");
		if (id == null || id.isJsonNull()) return; // an error without id (parse error of a raw frame)
		CompletableFuture<JsonElement> f = pending.remove(id.getAsString());
		if (f == null) return;
		// Completed here, not on the dispatch thread, so a listener may block on a call of its own.
		if (o.has("error") && o.get("error").isJsonObject()) f.completeExceptionally(RpcException.fromError(o.getAsJsonObject("error")));
		else f.complete(o.has("result") ? o.get("result") : null);
	}

	private static <T> void safely(Consumer<T> l, T v) {
		try {
			l.accept(v);
		}
		catch (RuntimeException e) {
			System.err.println("sparsecell: listener failed: " + e);
		}
	}

	private final class Listener implements WebSocket.Listener {
		private final StringBuilder buf = new StringBuilder();

		@Override
		public void onOpen(WebSocket webSocket) {
			webSocket.request(1);
		}

		@Override
		public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
			buf.append(data);
			if (last) {
				String text = buf.toString();
				buf.setLength(0);
				receive(text);
			}
			webSocket.request(1);
			return null;
		}

		@Override
		public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
			onClosed(statusCode + " " + reason);
			return null;
		}

		@Override
		public void onError(WebSocket webSocket, Throwable error) {
			onClosed(String.valueOf(error));
		}
	}
}
