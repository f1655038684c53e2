package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.sparsecell.fiji.imaging.NdArrays;
import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.*;
import org.sparsecell.fiji.rpc.RpcClient;
import org.sparsecell.fiji.rpc.RpcException;

/** RpcClient against a real daemon: every protocol method, error codes with data, progress, cancellation. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RpcClientTest {
	static RpcClient c;

	@BeforeAll
	static void connect() throws IOException {
		c = RpcClient.connect(TestDaemon.url(), TestDaemon.TOKEN);
	}

	@AfterAll
	static void close() {
		if (c != null) c.close();
	}

	static JsonObject tinyConfig() {
		JsonObject cfg = new JsonObject();
		cfg.addProperty("unetDepth", 2);
		cfg.addProperty("unetFilters", 8);
		return cfg;
	}

	/** A session with the synthetic image and ROI labels of 3 discs + background. */
	static String[] sessionWithLabels(String name) throws RpcException {
		return sessionWithLabels(c, name, "stardist", 3);
	}

	/** A tiny-config session of a family with the synthetic image and ROI labels of nRois discs + background. */
	static String[] sessionWithLabels(RpcClient c, String name, String family, int nRois) throws RpcException {
		String sid = c.sessionCreate(name, family, tinyConfig()).sessionId;
		ImageAddParams ap = new ImageAddParams();
		ap.sessionId = sid;
		ap.image = image();
		ap.axes = "YX";
		String iid = c.imageAdd(ap).imageId;
		LabelsUpdateParams lp = new LabelsUpdateParams();
		lp.sessionId = sid;
		lp.imageId = iid;
		lp.encoding = "offset1";
		lp.labels = NdArrays.fromInts(RoiLabels.rasterize(Synthetic.rois(nRois), 64, 64, null), new int[] { 64, 64 }, "uint16", true);
		c.labelsUpdate(lp);
		return new String[] { sid, iid };
	}

	static ImageData image() {
		NdArray a = NdArrays.fromImagePlus(Synthetic.image("syn"), true);
		ImageData d = new ImageData();
		d.dtype = a.dtype;
		d.shape = a.shape;
		d.data = a.data;
		d.encoding = a.encoding;
		return d;
	}

	@Test
	void serverInfoAndDiscover() throws Exception {
		ServerInfoResult info = c.serverInfo();
		assertEquals("sparsecell", info.name);
		assertTrue(info.families.containsAll(List.of("stardist", "cellpose", "elephant")));
		assertTrue(info.limits.maxArrayElements > 0);
		JsonObject doc = c.rpcDiscover();
		Set<String> names = new HashSet<>();
		doc.getAsJsonArray("methods").forEach(m -> names.add(m.getAsJsonObject().get("name").getAsString()));
		assertEquals(ProtocolSchemaTest.methodNames(), names, "rpc.discover lists the methods of protocol/openrpc.json");
	}

	@Test
	void tokenIsRequired() {
		IOException e = assertThrows(IOException.class, () -> RpcClient.connect(TestDaemon.url(), null).close());
		assertTrue(e.getMessage().contains("401"), e.getMessage());
		assertThrows(IOException.class, () -> RpcClient.connect(TestDaemon.url(), "wrong-token-123").close());
		assertThrows(IOException.class, () -> RpcClient.connect("ws://127.0.0.1:1", null).close());
	}

	@Test
	void sessionLifecycle() throws Exception {
		SessionCreateResult cr = c.sessionCreate("life", "cellpose", null);
		assertEquals("life", cr.name);
		assertEquals("cellpose", cr.family);
		assertTrue(c.sessionList().sessions.stream().anyMatch(s -> s.sessionId.equals(cr.sessionId) && s.images == 0));
		SessionGetResult g = c.sessionGet(cr.sessionId);
		assertEquals("open", g.state);
		assertEquals(0, g.generation);
		assertTrue(g.images.isEmpty());
		assertNotNull(g.createdAt);
		SessionCloseResult closed = c.sessionClose(cr.sessionId, false);
		assertTrue(closed.closed);
		assertFalse(closed.deleted);
		assertEquals(cr.sessionId, c.sessionGet(cr.sessionId).sessionId, "closed sessions reopen on use");
		assertTrue(c.sessionClose(cr.sessionId, true).deleted);
		RpcException e = assertThrows(RpcException.class, () -> c.sessionGet(cr.sessionId));
		assertEquals(RpcException.SESSION_NOT_FOUND, e.getCode());
	}

	@Test
	void imagesAndLabelsFullAndPatch() throws Exception {
		String sid = c.sessionCreate("labels", "stardist", null).sessionId;
		ImageAddParams ap = new ImageAddParams();
		ap.sessionId = sid;
		ap.image = image();
		ap.name = "syn.tif";
		ImageAddResult ar = c.imageAdd(ap);
		assertArrayEquals(new int[] { 64, 64 }, ar.shape);
		assertEquals("YX", ar.axes);

		int[] full = RoiLabels.rasterize(Synthetic.rois(2), 64, 64, null);
		LabelsUpdateParams lp = new LabelsUpdateParams();
		lp.sessionId = sid;
		lp.imageId = ar.imageId;
		lp.encoding = "offset1";
		lp.labels = NdArrays.fromInts(full, new int[] { 64, 64 }, "uint16", false);
		LabelsUpdateResult r1 = c.labelsUpdate(lp);
		assertEquals(2, r1.counts.objects);
		assertEquals(64 * 8, r1.counts.background);

		// a 2x3 patch at (1, 2) of instance 7 (offset1 8)
		lp.labels = NdArrays.fromInts(new int[] { 8, 8, 8, 8, 8, 8 }, new int[] { 2, 3 }, "int32", true);
		lp.origin = new int[] { 1, 2 };
		lp.kind = "correction";
		LabelsUpdateResult r2 = c.labelsUpdate(lp);
		assertEquals(r1.generation + 1, r2.generation);
		assertEquals(3, r2.counts.objects);

		LabelsGetResult got = c.labelsGet(sid, ar.imageId, "offset1");
		int[] v = NdArrays.toInts(got.labels);
		for (int y = 1; y < 3; y++) for (int x = 2; x < 5; x++) full[y * 64 + x] = 8;
		assertArrayEquals(full, v);
		assertEquals(r2.generation, got.generation);

		LabelsGetResult signed = c.labelsGet(sid, ar.imageId, "signed");
		int[] s = NdArrays.toInts(signed.labels);
		for (int i = 0; i < s.length; i++) assertEquals(full[i] - 1, s[i]);

		SessionGetResult g = c.sessionGet(sid);
		assertEquals(1, g.images.size());
		assertEquals("uint8", g.images.get(0).dtype);
		assertEquals(r2.generation, g.images.get(0).generation);

		assertTrue(c.sessionSetView(sid, ar.imageId, new int[] { 0, 0, 32, 32 }, null).ok);
	}

	@Test
	void errorsCarryCodesAndData() throws Exception {
		RpcException nf = assertThrows(RpcException.class, () -> c.sessionGet("nosuchsession"));
		assertEquals(RpcException.SESSION_NOT_FOUND, nf.getCode());
		assertEquals(-32801, nf.getCode());

		String sid = c.sessionCreate("errors", null, null).sessionId;
		JsonObject bad = new JsonObject();
		bad.addProperty("sessionId", sid);
		bad.addProperty("imageId", "img1");
		bad.addProperty("encoding", "sideways");
		bad.add("labels", RpcClient.GSON.toJsonTree(NdArrays.fromInts(new int[] { 0 }, new int[] { 1, 1 }, "int32", false)));
		RpcException ip = assertThrows(RpcException.class, () -> c.call("labels.update", bad));
		assertEquals(RpcException.INVALID_PARAMS, ip.getCode());
		assertTrue(ip.getDataPaths().contains("/encoding"), "data paths: " + ip.getData());

		JsonObject extra = new JsonObject();
		extra.addProperty("sessionId", sid);
		extra.addProperty("bogus", 1);
		RpcException ex = assertThrows(RpcException.class, () -> c.call("session.get", extra));
		assertEquals(-32602, ex.getCode());
		assertFalse(ex.getDataPaths().isEmpty());

		RpcException im = assertThrows(RpcException.class, () -> c.labelsGet(sid, "img404", null));
		assertEquals(RpcException.IMAGE_NOT_FOUND, im.getCode());

		ImageAddParams ap = new ImageAddParams();
		ap.sessionId = sid;
		ap.image = image();
		String iid = c.imageAdd(ap).imageId;
		LabelsUpdateParams lp = new LabelsUpdateParams();
		lp.sessionId = sid;
		lp.imageId = iid;
		lp.encoding = "offset1";
		lp.labels = NdArrays.fromInts(new int[16], new int[] { 4, 4 }, "uint16", false);
		lp.origin = new int[] { 62, 62 };
		RpcException sm = assertThrows(RpcException.class, () -> c.labelsUpdate(lp));
		assertEquals(RpcException.SHAPE_MISMATCH, sm.getCode());

		RpcException mnf = assertThrows(RpcException.class, () -> c.call("session.explode", new JsonObject()));
		assertEquals(RpcException.METHOD_NOT_FOUND, mnf.getCode());

		RpcException job = assertThrows(RpcException.class, () -> c.modelCancel("nosuchjob"));
		assertEquals(RpcException.JOB_NOT_FOUND, job.getCode(), job.toString());

		// the connection survives a malformed frame
		c.sendRaw("{not json");
		assertEquals("sparsecell", c.serverInfo().name);
	}

	@Test
	void trainWithProgressPredictExportImportConfigure() throws Exception {
		String[] ids = sessionWithLabels("train");
		String sid = ids[0], iid = ids[1];
		List<ProgressParams> seen = Collections.synchronizedList(new ArrayList<>());
		Runnable off = c.addProgressListener(seen::add);
		ModelTrainParams tp = new ModelTrainParams();
		tp.sessionId = sid;
		tp.steps = 6;
		tp.options = new TrainOptions();
		tp.options.patchSize = 32;
		tp.options.batchSize = 2;
		tp.options.seed = 1;
		String jobId = c.modelTrain(tp).jobId;
		ProgressParams end = c.progressEnd(jobId).get(90, TimeUnit.SECONDS);
		off.run();
		assertEquals("done", end.state, "training ended: " + end.error);
		assertEquals(6, end.step);
		assertTrue(seen.stream().anyMatch(p -> jobId.equals(p.tokenString()) && "begin".equals(p.kind)), "a begin notification");
		assertTrue(seen.stream().anyMatch(p -> jobId.equals(p.tokenString()) && p.loss != null), "loss reported");

		SessionGetResult g = c.sessionGet(sid);
		assertNotNull(g.modelVersion);
		assertTrue(g.jobs.stream().anyMatch(j -> j.jobId.equals(jobId) && "done".equals(j.state)));

		List<ProgressParams> tiles = Collections.synchronizedList(new ArrayList<>());
		Runnable off2 = c.addProgressListener(p -> {
			if ("pp1".equals(p.tokenString())) tiles.add(p);
		});
		ModelPredictParams pp = new ModelPredictParams();
		pp.sessionId = sid;
		pp.imageId = iid;
		pp.progressToken = new JsonPrimitive("pp1");
		ModelPredictResult pr = c.modelPredict(pp);
		off2.run();
		assertArrayEquals(new int[] { 64, 64 }, pr.labels.shape);
		assertArrayEquals(new int[] { 0, 0, 64, 64 }, pr.region);
		assertEquals(g.modelVersion.intValue(), pr.modelVersion);
		int max = RoiLabels.max(NdArrays.toInts(pr.labels));
		assertEquals(pr.polygons.size(), new HashSet<>(pr.polygons.stream().map(p -> p.id).collect(java.util.stream.Collectors.toList())).size());
		assertTrue(max >= 0);

		ModelExportResult ex = c.modelExport(sid);
		assertEquals("stardist", ex.family);
		assertEquals(ex.bytes, Base64.getDecoder().decode(ex.model).length);

		String other = c.sessionCreate("imported", "stardist", tinyConfig()).sessionId;
		RpcException nt = assertThrows(RpcException.class, () -> c.modelExport(other));
		assertEquals(RpcException.MODEL_NOT_TRAINED, nt.getCode());
		ModelImportResult im = c.modelImport(other, ex.model);
		assertEquals("stardist", im.family);
		assertNotNull(c.sessionGet(other).modelVersion);
		RpcException bad = assertThrows(RpcException.class, () -> c.modelImport(other, Base64.getEncoder().encodeToString("not a model".getBytes())));
		assertTrue(bad.getCode() == RpcException.INVALID_MODEL || bad.getCode() == RpcException.INVALID_PARAMS, bad.toString());

		ModelConfigureParams cp = new ModelConfigureParams();
		cp.sessionId = sid;
		cp.options = new TrainOptions();
		cp.options.learningRate = 3e-4;
		assertEquals(3e-4, c.modelConfigure(cp).options.learningRate, 1e-12);
	}

	@Test
	void liveTrainingCancelsAndCancelRequestAnswers() throws Exception {
		String[] ids = sessionWithLabels("cancel");
		ModelTrainParams tp = new ModelTrainParams();
		tp.sessionId = ids[0];
		tp.live = true;
		tp.options = new TrainOptions();
		tp.options.patchSize = 32;
		tp.options.batchSize = 2;
		String jobId = c.modelTrain(tp).jobId;
		RpcException busy = assertThrows(RpcException.class, () -> c.modelTrain(tp));
		assertEquals(RpcException.SESSION_BUSY, busy.getCode());
		ModelCancelResult cr = c.modelCancel(jobId);
		assertTrue(cr.cancelled);
		ProgressParams end = c.progressEnd(jobId).get(60, TimeUnit.SECONDS);
		assertEquals("cancelled", end.state);
		assertFalse(c.modelCancel(jobId).cancelled, "a second cancel finds the job ended");

		// $/cancelRequest of an in-flight predict: answered with -32800, or with the result when it was faster
		ModelPredictParams pp = new ModelPredictParams();
		pp.sessionId = ids[0];
		pp.imageId = ids[1];
		RpcClient.PendingCall<ModelPredictResult> call = c.modelPredictAsync(pp);
		c.cancelRequest(call.id);
		try {
			ModelPredictResult r = c.await(call.future);
			assertNotNull(r.labels);
		}
		catch (RpcException e) {
			assertTrue(e.getCode() == RpcException.REQUEST_CANCELLED || e.getCode() == RpcException.MODEL_NOT_TRAINED, e.toString());
		}
		assertEquals("sparsecell", c.serverInfo().name, "the connection is still usable");
	}

	@Test
	void closedClientFailsCalls() throws Exception {
		RpcClient c2 = RpcClient.connect(TestDaemon.url(), TestDaemon.TOKEN);
		List<String> reasons = new ArrayList<>();
		c2.addCloseListener(reasons::add);
		c2.close();
		assertFalse(c2.isOpen());
		RpcException e = assertThrows(RpcException.class, () -> c2.serverInfo());
		assertEquals(RpcException.CONNECTION_CLOSED, e.getCode());
		JsonElement nothing = null;
		assertNull(nothing);
	}
}
