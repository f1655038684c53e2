package org.sparsecell.fiji;

import java.awt.Color;
import java.awt.Rectangle;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.ImageCanvas;
import ij.gui.Roi;

import org.sparsecell.fiji.imaging.RoiIO;
import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.EventParams;
import org.sparsecell.fiji.protocol.Protocol.ModelTrainParams;
import org.sparsecell.fiji.rpc.RpcException;

/**
 * Live mode for one image: live training on the daemon, the visible region told with session.setView, every
 * prediction.updated drawn as an Overlay of polygons on the image, every suggestions.updated as suggestion rectangles
 * (see {@link Suggestions}), and the annotation ROIs re-sent (only what changed) every interval while the person keeps
 * drawing.
 */
public final class LiveMode {
	public static final Color PREDICTION_COLOUR = new Color(0, 220, 255);

	private final Sparsecell s;
	private final ImagePlus imp;
	private final String source;
	private final Color bgColour;
	private final AtomicInteger updates = new AtomicInteger();
	private final AtomicInteger suggestionUpdates = new AtomicInteger();
	private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
		Thread t = new Thread(r, "sparsecell-live");
		t.setDaemon(true);
		return t;
	});
	private Runnable offEvents;
	private String jobId;
	private boolean startedJob;
	private int[] lastView;
	private volatile String lastError;

	private LiveMode(Sparsecell s, ImagePlus imp, String source, Color bgColour) {
		this.s = s;
		this.imp = imp;
		this.source = source;
		this.bgColour = bgColour;
	}

	/** Start live mode on imp (stopping live mode on another image first). */
	public static LiveMode start(Sparsecell s, ImagePlus imp, String source, Color bgColour, ModelTrainParams train, long intervalMs) throws RpcException {
		LiveMode old = s.live();
		if (old != null) old.stop();
		LiveMode l = new LiveMode(s, imp, source, bgColour);
		l.begin(train, intervalMs);
		s.setLive(l);
		return l;
	}

	private void begin(ModelTrainParams train, long intervalMs) throws RpcException {
		Sparsecell.ImageLink link = s.link(imp);
		offEvents = s.client.addEventListener(this::onEvent);
		sync();
		train.live = Boolean.TRUE;
		try {
			jobId = s.startTraining(train);
			startedJob = true;
		}
		catch (RpcException e) {
			if (e.getCode() != RpcException.SESSION_BUSY) {
				offEvents.run();
				throw e;
			}
			jobId = s.trainingJobId(); // a (live) training already runs: keep it
		}
		IJ.showStatus("sparsecell: live mode on " + imp.getTitle() + " (image " + link.imageId + ")");
		timer.scheduleWithFixedDelay(() -> {
			try {
				sync();
				lastError = null;
			}
			catch (Exception e) {
				if (lastError == null) IJ.log("sparsecell live mode: " + e.getMessage());
				lastError = String.valueOf(e.getMessage());
			}
		}, intervalMs, intervalMs, TimeUnit.MILLISECONDS);
	}

	/** Send changed labels of the current plane and the visible region when it moved. */
	synchronized void sync() throws RpcException {
		int z = RoiLabels.currentPlane(imp);
		List<Roi> rois = RoiLabels.forPlane(RoiIO.read(source, imp), imp, z);
		s.sendLabels(imp, z, RoiLabels.rasterize(rois, imp.getWidth(), imp.getHeight(), bgColour), null);
		int[] view = visibleRegion(imp);
		int[] key = Arrays.copyOf(view, 5);
		key[4] = z;
		if (!Arrays.equals(key, lastView)) {
			Sparsecell.ImageLink link = s.link(imp);
			s.client.sessionSetView(s.sessionId, link.imageId, view, link.planes > 1 ? z : null);
			lastView = key;
		}
	}

	/** [y0, x0, y1, x1] of what the image window shows (the whole plane without a window). */
	public static int[] visibleRegion(ImagePlus imp) {
		ImageCanvas c = imp.getCanvas();
		if (c == null) return new int[] { 0, 0, imp.getHeight(), imp.getWidth() };
		Rectangle r = c.getSrcRect();
		return new int[] { Math.max(0, r.y), Math.max(0, r.x), Math.min(imp.getHeight(), r.y + r.height), Math.min(imp.getWidth(), r.x + r.width) };
	}

	private void onEvent(EventParams e) {
		if ("suggestions.updated".equals(e.type) && s.sessionId.equals(e.sessionId) && e.suggestions != null) {
			Sparsecell.ImageLink link = s.linkOrNull(imp);
			if (link == null || !link.imageId.equals(e.imageId)) return;
			Suggestions sug = new Suggestions(imp, e.suggestions);
			sug.draw();
			s.setSuggestions(sug);
			suggestionUpdates.incrementAndGet();
			return;
		}
		if (!"prediction.updated".equals(e.type) || !s.sessionId.equals(e.sessionId)) return;
		Sparsecell.ImageLink link = s.linkOrNull(imp);
		if (link == null || !link.imageId.equals(e.imageId) || e.polygons == null) return;
		int z = e.z != null ? e.z : 0;
		List<Roi> rois = RoiIO.toRois(e.polygons, imp, z, PREDICTION_COLOUR);
		RoiIO.replaceOverlayPredictions(imp, rois);
		int n = updates.incrementAndGet();
		IJ.showStatus("sparsecell live: " + rois.size() + " objects (model v" + e.modelVersion + ", update " + n + ")");
	}

	/** How many prediction.updated events were drawn. */
	public int updates() {
		return updates.get();
	}

	/** How many suggestions.updated events were drawn. */
	public int suggestionUpdates() {
		return suggestionUpdates.get();
	}

	public ImagePlus image() {
		return imp;
	}

	public String jobId() {
		return jobId;
	}

	/** Stop: no more label syncing or overlay updates; cancels the live training this live mode started. */
	public void stop() {
		stop(0);
	}

	/**
	 * Stop, and wait up to waitMs for the daemon to answer model.cancel (it answers once the job has ended), so that a
	 * macro's next command (e.g. Train) does not meet the still-running live job. waitMs 0: do not wait (the EDT).
	 */
	public void stop(long waitMs) {
		timer.shutdownNow();
		if (offEvents != null) offEvents.run();
		java.util.concurrent.CompletableFuture<?> cancelled = null;
		if (startedJob && jobId != null && s.client.isOpen()) {
			org.sparsecell.fiji.protocol.Protocol.ModelCancelParams p = new org.sparsecell.fiji.protocol.Protocol.ModelCancelParams();
			p.jobId = jobId;
			cancelled = s.client.callAsync("model.cancel", p).future;
		}
		if (s.live() == this) s.setLive(null);
		if (cancelled != null && waitMs > 0) {
			try {
				cancelled.get(waitMs, java.util.concurrent.TimeUnit.MILLISECONDS);
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			} catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
				// the job may have ended already (JobNotFound) or the daemon is slow: the stop itself is done
			}
		}
		IJ.showStatus("sparsecell: live mode off");
	}
}
