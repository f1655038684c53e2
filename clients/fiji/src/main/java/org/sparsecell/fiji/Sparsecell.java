package org.sparsecell.fiji;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import ij.ImagePlus;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.ShortProcessor;

import org.sparsecell.fiji.imaging.NdArrays;
import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.*;
import org.sparsecell.fiji.rpc.RpcClient;
import org.sparsecell.fiji.rpc.RpcException;

/**
 * The connection the commands share (one per Fiji): the RPC client, the session, which ImagePlus is which daemon
 * image, the labels last sent for each image (so Send Labels sends only the changed box), the running training job
 * and live mode. Commands stay thin adapters over these methods; tests call them directly too.
 */
public final class Sparsecell implements AutoCloseable {

	private static volatile Sparsecell current;

	/** Daemon image linked to an ImagePlus, with the offset1 labels last sent for each plane. */
	public static final class ImageLink {
		public final String imageId;
		public final int width, height, planes;
		public final String axes;
		final int[][] lastSent;

		ImageLink(String imageId, int width, int height, int planes, String axes) {
			this.imageId = imageId;
			this.width = width;
			this.height = height;
			this.planes = planes;
			this.axes = axes;
			this.lastSent = new int[planes][];
		}
	}

	/** What Send Labels did: sent = false when nothing had changed since the last send. */
	public static final class SendResult {
		public boolean sent;
		public int[] box;
		public int objects;
		public LabelsUpdateResult result;
	}

	public final RpcClient client;
	public final String sessionId;
	public final String family;
	private final LocalDaemon daemon;
	private final Map<Integer, ImageLink> images = new ConcurrentHashMap<>();
	private final AtomicInteger predictions = new AtomicInteger();
	private volatile String trainingJobId;
	private volatile LiveMode live;

	private Sparsecell(RpcClient client, String sessionId, String family, LocalDaemon daemon) {
		this.client = client;
		this.sessionId = sessionId;
		this.family = family;
		this.daemon = daemon;
	}

	/** The current connection; fails with a message that says what to do when there is none. */
	public static Sparsecell current() {
		Sparsecell s = current;
		if (s == null || !s.client.isOpen()) throw new IllegalStateException("not connected: run Plugins > sparsecell > sparsecell Connect first");
		return s;
	}

	public static Sparsecell currentOrNull() {
		return current;
	}

	/**
	 * Connect and open a session: sessionId names an existing one (session.get), else a new session is created
	 * with name, family and config. Replaces (and closes) the previous connection. daemon: one this JVM started,
	 * stopped on disconnect (may be null).
	 */
	public static synchronized Sparsecell connect(String url, String token, String sessionId, String name, String family, JsonObject config, LocalDaemon daemon) throws IOException, RpcException {
		disconnect();
		RpcClient c = RpcClient.connect(url, token);
		try {
			String sid, fam;
			if (sessionId != null && !sessionId.trim().isEmpty()) {
				SessionGetResult s = c.sessionGet(sessionId.trim());
				sid = s.sessionId;
				fam = s.family;
			}
			else {
				SessionCreateResult r = c.sessionCreate(name == null || name.isEmpty() ? null : name, family == null || family.isEmpty() ? null : family, config);
				sid = r.sessionId;
				fam = r.family;
			}
			current = new Sparsecell(c, sid, fam, daemon);
			return current;
		}
		catch (RpcException e) {
			c.close();
			throw e;
		}
	}

	/** Close the current connection (stopping live mode, and the daemon if this JVM started it). */
	public static synchronized void disconnect() {
		Sparsecell s = current;
		current = null;
		if (s != null) s.close();
	}

	@Override
	public void close() {
		LiveMode l = live;
		if (l != null) l.stop();
		client.close();
		if (daemon != null) daemon.stop();
	}

	public LocalDaemon daemon() {
		return daemon;
	}

	public String trainingJobId() {
		return trainingJobId;
	}

	public LiveMode live() {
		return live;
	}

	private volatile Suggestions suggestions;

	/** The suggestions shown last (Suggest or live mode), or null. */
	public Suggestions suggestions() {
		return suggestions;
	}

	public void setSuggestions(Suggestions s) {
		suggestions = s;
	}

	void setLive(LiveMode l) {
		live = l;
	}

	// ---- images and labels -----------------------------------------------------------------------------

	/** The daemon image of imp, adding it (image.add) on first use. */
	public ImageLink link(ImagePlus imp) throws RpcException {
		ImageLink l = images.get(imp.getID());
		if (l != null) return l;
		synchronized (images) {
			l = images.get(imp.getID());
			if (l != null) return l;
			ImageAddParams p = new ImageAddParams();
			p.sessionId = sessionId;
			NdArray a = NdArrays.fromImagePlus(imp, true);
			ImageData d = new ImageData();
			d.dtype = a.dtype;
			d.shape = a.shape;
			d.data = a.data;
			d.encoding = a.encoding;
			p.image = d;
			p.axes = NdArrays.axesOf(imp);
			p.name = imp.getTitle() == null || imp.getTitle().isEmpty() ? null : truncate(imp.getTitle(), 200);
			ImageAddResult r = client.imageAdd(p);
			l = new ImageLink(r.imageId, imp.getWidth(), imp.getHeight(), NdArrays.planes(imp).length, r.axes);
			images.put(imp.getID(), l);
			imp.setProp("sparsecell.sessionId", sessionId);
			imp.setProp("sparsecell.imageId", r.imageId);
			return l;
		}
	}

	/** The link of imp if it was added already, else null. */
	public ImageLink linkOrNull(ImagePlus imp) {
		return images.get(imp.getID());
	}

	/**
	 * Send the offset1 labels of one plane (0-based) of imp: only the box that changed since the last send, as a
	 * labels.update patch with origin. Nothing is sent when nothing changed.
	 */
	public SendResult sendLabels(ImagePlus imp, int plane, int[] offset1, String kind) throws RpcException {
		ImageLink l = link(imp);
		if (offset1.length != l.width * l.height) throw new IllegalArgumentException("labels have " + offset1.length + " pixels, the image plane " + l.width * l.height);
		if (plane < 0 || plane >= l.planes) throw new IllegalArgumentException("plane " + plane + " outside 0.." + (l.planes - 1));
		SendResult out = new SendResult();
		synchronized (l) {
			int[] prev = l.lastSent[plane] != null ? l.lastSent[plane] : new int[offset1.length];
			int[] box = RoiLabels.changedBox(prev, offset1, l.width, l.height);
			out.box = box;
			if (box == null) return out;
			int[] patch = RoiLabels.crop(offset1, l.width, box);
			int bh = box[2] - box[0], bw = box[3] - box[1];
			boolean stack = l.planes > 1;
			LabelsUpdateParams p = new LabelsUpdateParams();
			p.sessionId = sessionId;
			p.imageId = l.imageId;
			p.encoding = "offset1";
			p.kind = kind == null || kind.isEmpty() || "annotation".equals(kind) ? null : kind;
			p.labels = NdArrays.fromInts(patch, stack ? new int[] { 1, bh, bw } : new int[] { bh, bw }, RoiLabels.max(patch) > 65535 ? "int32" : "uint16", true);
			p.origin = stack ? new int[] { plane, box[0], box[1] } : new int[] { box[0], box[1] };
			out.result = client.labelsUpdate(p);
			out.sent = true;
			l.lastSent[plane] = offset1.clone();
		}
		return out;
	}

	/** Forget what was sent for imp (the next send sends the whole labeled area again). */
	public void forgetSent(ImagePlus imp) {
		ImageLink l = images.get(imp.getID());
		if (l != null) synchronized (l) {
			java.util.Arrays.fill(l.lastSent, null);
		}
	}

	// ---- training ---------------------------------------------------------------------------------------

	/** The model file this session was last started from (Train's "Start from: file…"), so it is imported once. */
	public volatile String startModelFile;

	/** model.train; remembers the job as the current training job (for Cancel). */
	public String startTraining(ModelTrainParams p) throws RpcException {
		p.sessionId = sessionId;
		String jobId = client.modelTrain(p).jobId;
		trainingJobId = jobId;
		return jobId;
	}

	/**
	 * Wait for a job's end, calling onProgress for its reports and cancelling it (model.cancel) once
	 * cancelRequested says so. Returns the end notification.
	 */
	public ProgressParams awaitJob(String jobId, Consumer<ProgressParams> onProgress, BooleanSupplier cancelRequested, Duration timeout) throws RpcException {
		Runnable off = client.addProgressListener(p -> {
			if (jobId.equals(p.tokenString()) && onProgress != null) onProgress.accept(p);
		});
		try {
			CompletableFuture<ProgressParams> end = client.progressEnd(jobId);
			long deadline = System.nanoTime() + timeout.toNanos();
			boolean cancelled = false;
			while (true) {
				try {
					return end.get(200, TimeUnit.MILLISECONDS);
				}
				catch (TimeoutException e) {
					if (System.nanoTime() > deadline) throw new RpcException(RpcException.TIMEOUT, "job " + jobId + " did not end within " + timeout, e);
					if (!cancelled && cancelRequested != null && cancelRequested.getAsBoolean()) {
						cancelled = true;
						client.modelCancel(jobId);
					}
				}
				catch (InterruptedException e) {
					Thread.currentThread().interrupt();
					client.modelCancel(jobId);
					throw new RpcException(RpcException.REQUEST_CANCELLED, "interrupted", e);
				}
				catch (java.util.concurrent.ExecutionException e) {
					if (e.getCause() instanceof RpcException) throw (RpcException) e.getCause();
					throw new RpcException(RpcException.INTERNAL_ERROR, String.valueOf(e.getCause()), e.getCause());
				}
			}
		}
		finally {
			off.run();
		}
	}

	/** model.cancel of the current training job; false when there is none or it had ended. */
	public boolean cancelTraining() throws RpcException {
		String j = trainingJobId;
		if (j == null) return false;
		return client.modelCancel(j).cancelled;
	}

	// ---- prediction -------------------------------------------------------------------------------------

	/**
	 * model.predict for plane z of imp with a progress token (tiling progress to onProgress); cancels the request
	 * ($/cancelRequest) once cancelRequested says so.
	 */
	public ModelPredictResult predict(ImagePlus imp, int z, Double probThresh, Double nmsThresh, Consumer<ProgressParams> onProgress, BooleanSupplier cancelRequested) throws RpcException {
		ImageLink l = link(imp);
		ModelPredictParams p = new ModelPredictParams();
		p.sessionId = sessionId;
		p.imageId = l.imageId;
		p.z = l.planes > 1 ? z : null;
		p.probThresh = probThresh;
		p.nmsThresh = nmsThresh;
		String token = "fiji-predict-" + predictions.incrementAndGet();
		p.progressToken = new JsonPrimitive(token);
		Runnable off = client.addProgressListener(pp -> {
			if (token.equals(pp.tokenString()) && onProgress != null) onProgress.accept(pp);
		});
		try {
			RpcClient.PendingCall<ModelPredictResult> call = client.modelPredictAsync(p);
			boolean cancelled = false;
			while (true) {
				try {
					return call.future.get(200, TimeUnit.MILLISECONDS);
				}
				catch (TimeoutException e) {
					if (!cancelled && cancelRequested != null && cancelRequested.getAsBoolean()) {
						cancelled = true;
						try {
							client.cancelRequest(call.id);
						}
						catch (IOException io) {
							throw new RpcException(RpcException.CONNECTION_CLOSED, io.getMessage(), io);
						}
					}
				}
				catch (InterruptedException e) {
					Thread.currentThread().interrupt();
					throw new RpcException(RpcException.REQUEST_CANCELLED, "interrupted", e);
				}
				catch (java.util.concurrent.ExecutionException e) {
					if (e.getCause() instanceof RpcException) throw (RpcException) e.getCause();
					throw new RpcException(RpcException.INTERNAL_ERROR, String.valueOf(e.getCause()), e.getCause());
				}
			}
		}
		finally {
			off.run();
		}
	}

	/**
	 * A prediction's labels (0 background, k object k) as a full-plane processor of w × h: 16-bit, or 32-bit when
	 * ids exceed 65535. A prediction of a region lands at its place.
	 */
	public static ImageProcessor labelPlane(NdArray labels, int[] region, int w, int h) {
		int[] v = NdArrays.toInts(labels);
		int rh = labels.shape[labels.shape.length - 2], rw = labels.shape[labels.shape.length - 1];
		int y0 = region != null ? region[0] : 0, x0 = region != null ? region[1] : 0;
		int max = RoiLabels.max(v);
		ImageProcessor ip = max > 65535 ? new FloatProcessor(w, h) : new ShortProcessor(w, h);
		for (int y = 0; y < rh && y + y0 < h; y++) {
			for (int x = 0; x < rw && x + x0 < w; x++) ip.setf(x + x0, y + y0, v[y * rw + x]);
		}
		ip.resetMinAndMax();
		return ip;
	}

	private static String truncate(String s, int n) {
		return s.length() <= n ? s : s.substring(0, n);
	}
}
