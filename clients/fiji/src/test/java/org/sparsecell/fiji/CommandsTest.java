package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.scijava.Context;
import org.scijava.command.Command;
import org.scijava.command.CommandInfo;
import org.scijava.command.CommandModule;
import org.scijava.command.CommandService;
import org.sparsecell.fiji.commands.*;
import org.sparsecell.fiji.imaging.NdArrays;
import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.LabelsGetResult;
import org.sparsecell.fiji.protocol.Protocol.Suggestion;
import org.sparsecell.fiji.rpc.RpcException;

import ij.ImagePlus;
import ij.gui.OvalRoi;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.process.ShortProcessor;

/**
 * The commands run headless in a real SciJava Context (CommandService.run, as Fiji runs them from a menu or a macro)
 * against a real daemon, on a synthetic image with ROIs: Connect → Send Labels → Train → Predict → Live Mode →
 * Export/Import → Cancel → Disconnect. In a plain headless JVM the ROI Manager cannot exist, so "ROI Manager"
 * reads and writes the image Overlay (RoiIO).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CommandsTest {
	static Context ctx;
	static CommandService cs;
	static ImagePlus imp;

	@BeforeAll
	static void context() {
		assertTrue(java.awt.GraphicsEnvironment.isHeadless(), "tests run headless");
		ctx = new Context(CommandService.class);
		cs = ctx.service(CommandService.class);
		imp = Synthetic.image("cells.tif");
		Overlay ov = new Overlay();
		for (Roi r : Synthetic.rois(3)) ov.add(r);
		imp.setOverlay(ov);
	}

	@AfterAll
	static void close() {
		Sparsecell.disconnect();
		if (ctx != null) ctx.dispose();
	}

	/** Run a command as Fiji does (pre/postprocessing on) and fail with its reason when it failed. */
	static CommandModule run(Class<? extends Command> c, Object... inputs) throws Exception {
		CommandModule m = runAllowingFailure(c, inputs);
		assertFalse(m.isCanceled(), c.getSimpleName() + " failed: " + m.getCancelReason());
		return m;
	}

	static CommandModule runAllowingFailure(Class<? extends Command> c, Object... inputs) throws Exception {
		return cs.run(c, true, inputs).get(100, TimeUnit.SECONDS);
	}

	/** Run a model command; it must succeed. */
	static CommandModule runModel(Class<? extends Command> c, Object... inputs) throws Exception {
		CommandModule m = runAllowingFailure(c, inputs);
		assertFalse(m.isCanceled(), c.getSimpleName() + " failed: " + m.getCancelReason());
		return m;
	}

	/** A command's result field (results are fields, not SciJava outputs, so Fiji shows no window for them). */
	static Object out(CommandModule m, String name) throws Exception {
		Object c = m.getCommand();
		return c.getClass().getField(name).get(c);
	}

	static int[] daemonLabels(ImagePlus image) throws RpcException {
		Sparsecell s = Sparsecell.current();
		LabelsGetResult r = s.client.labelsGet(s.sessionId, s.linkOrNull(image).imageId, "offset1");
		return NdArrays.toInts(r.labels);
	}

	@Test
	@Order(0)
	void commandsAreRegisteredUnderPluginsSparsecell() {
		List<Class<?>> all = Arrays.asList(Connect.class, SendLabels.class, Train.class, Cancel.class, Predict.class, Suggest.class, Live.class, ExportModel.class, ExportBioimageio.class, ImportModel.class, Disconnect.class);
		for (Class<?> c : all) {
			CommandInfo info = cs.getCommand(c.getName());
			assertNotNull(info, c.getName() + " is a SciJava plugin");
			assertTrue(info.getMenuPath().getMenuString().startsWith("Plugins > sparsecell > sparsecell "), info.getMenuPath().getMenuString());
			assertTrue(info.canRunHeadless(), c.getSimpleName() + " runs headless");
		}
		// macro-recordable by its label: run("Go to next suggestion")
		CommandInfo next = cs.getCommand(NextSuggestion.class.getName());
		assertEquals("Plugins > sparsecell > Go to next suggestion", next.getMenuPath().getMenuString());
		assertEquals("Go to next suggestion", next.getLabel());
		assertTrue(next.canRunHeadless());
	}

	@Test
	@Order(1)
	void withoutConnectionCommandsSayWhatToDo() throws Exception {
		Sparsecell.disconnect();
		CommandModule m = runAllowingFailure(SendLabels.class, "imp", imp, "source", "Overlay");
		assertTrue(m.isCanceled());
		assertTrue(m.getCancelReason().contains("sparsecell Connect"), m.getCancelReason());
		CommandModule bad = runAllowingFailure(Connect.class, "url", TestDaemon.url(), "token", "wrong-token-42", "startLocal", false, "session", "", "name", "x", "family", "stardist", "config", "");
		assertTrue(bad.isCanceled());
		assertTrue(bad.getCancelReason().contains("401"), bad.getCancelReason());
	}

	@Test
	@Order(2)
	void connectCreatesASession() throws Exception {
		CommandModule m = run(Connect.class, "url", TestDaemon.url(), "token", TestDaemon.TOKEN, "startLocal", false, "session", "", "name", "fiji-test", "family", "stardist", "config", "{\"unetDepth\": 2, \"unetFilters\": 8}");
		String sid = (String) out(m, "sessionId");
		assertNotNull(sid);
		assertEquals(sid, Sparsecell.current().sessionId);
		assertEquals(2, Sparsecell.current().client.sessionGet(sid).config.get("unetDepth").getAsInt());
		// reattaching by id keeps the session
		run(Connect.class, "url", TestDaemon.url(), "token", TestDaemon.TOKEN, "startLocal", false, "session", sid, "name", "", "family", "stardist", "config", "");
		assertEquals(sid, Sparsecell.current().sessionId);
	}

	@Test
	@Order(3)
	void sendLabelsFromRoisSendsOnlyWhatChanged() throws Exception {
		CommandModule m = run(SendLabels.class, "imp", imp, "source", "ROI Manager", "labelImage", "", "backgroundColour", "none", "kind", "annotation");
		assertEquals(true, out(m, "sent"));
		assertEquals(3, out(m, "objects"));
		int g1 = (Integer) out(m, "generation");
		int[] expected = RoiLabels.rasterize(Synthetic.rois(3), 64, 64, null);
		assertArrayEquals(expected, daemonLabels(imp));
		assertEquals(imp.getProp("sparsecell.imageId"), Sparsecell.current().linkOrNull(imp).imageId);

		CommandModule again = run(SendLabels.class, "imp", imp, "source", "Overlay", "labelImage", "", "backgroundColour", "none", "kind", "annotation");
		assertEquals(false, out(again, "sent"), "nothing changed, nothing sent");
		assertEquals(g1, out(again, "generation"));

		// one more ROI: only its box travels, as a patch
		int[] d = Synthetic.DISCS[3];
		OvalRoi fourth = new OvalRoi(d[0] - d[2], d[1] - d[2], 2 * d[2] + 1, 2 * d[2] + 1);
		imp.getOverlay().add(fourth);
		List<Roi> now = Arrays.asList(imp.getOverlay().toArray());
		int[] labels = RoiLabels.rasterize(RoiLabels.forPlane(now, imp, 0), 64, 64, null);
		Sparsecell.SendResult r = Sparsecell.current().sendLabels(imp, 0, labels, null);
		assertTrue(r.sent);
		assertArrayEquals(new int[] { d[1] - d[2], d[0] - d[2], d[1] + d[2] + 1, d[0] + d[2] + 1 }, r.box, "the changed box is the new disc");
		assertEquals(4, r.result.counts.objects);
		assertEquals(g1 + 1, r.result.generation);
		assertArrayEquals(labels, daemonLabels(imp));
		// removing it again sends its box back to unlabeled
		imp.getOverlay().remove(fourth);
		CommandModule removed = run(SendLabels.class, "imp", imp, "source", "Overlay", "labelImage", "", "backgroundColour", "none", "kind", "annotation");
		assertEquals(3, out(removed, "objects"));
		assertArrayEquals(expected, daemonLabels(imp));
	}

	@Test
	@Order(4)
	void sendLabelsFromAnOffset1LabelImage() throws Exception {
		ImagePlus other = Synthetic.image("other.tif");
		int[] lab = RoiLabels.rasterize(Synthetic.rois(5), 64, 64, null);
		short[] px = new short[lab.length];
		for (int i = 0; i < lab.length; i++) px[i] = (short) lab[i];
		ImagePlus li = new ImagePlus("other-annotations", new ShortProcessor(64, 64, px, null));
		boolean wasBatch = Interpreter.isBatchMode();
		Interpreter.batchMode = true; // as in a headless macro: images live in batch mode
		Interpreter.addBatchModeImage(li);
		try {
			CommandModule m = run(SendLabels.class, "imp", other, "source", "Label image", "labelImage", "other-annotations", "backgroundColour", "none", "kind", "annotation");
			assertEquals(5, out(m, "objects"));
			assertArrayEquals(lab, daemonLabels(other));
		}
		finally {
			Interpreter.removeBatchModeImage(li);
			Interpreter.batchMode = wasBatch;
		}
		CommandModule missing = runAllowingFailure(SendLabels.class, "imp", other, "source", "Label image", "labelImage", "nope", "backgroundColour", "none", "kind", "annotation");
		assertTrue(missing.getCancelReason().contains("nope"));
	}

	@Test
	@Order(4)
	void stacksSendTheCurrentPlaneAsA3DPatch() throws Exception {
		ij.ImageStack st = new ij.ImageStack(32, 32);
		for (int z = 0; z < 3; z++) st.addSlice(new ij.process.ByteProcessor(32, 32));
		ImagePlus stack = new ImagePlus("stack.tif", st);
		Roi onTwo = new Roi(4, 4, 6, 6);
		onTwo.setPosition(2);
		Roi onThree = new Roi(20, 20, 4, 4);
		onThree.setPosition(3);
		Overlay ov = new Overlay();
		ov.add(onTwo);
		ov.add(onThree);
		stack.setOverlay(ov);
		stack.setSlice(2);
		CommandModule m = run(SendLabels.class, "imp", stack, "source", "Overlay", "labelImage", "", "backgroundColour", "none", "kind", "annotation");
		assertEquals(1, out(m, "objects"));
		Sparsecell s = Sparsecell.current();
		LabelsGetResult r = s.client.labelsGet(s.sessionId, s.linkOrNull(stack).imageId, "offset1");
		assertArrayEquals(new int[] { 3, 32, 32 }, r.labels.shape);
		int[] v = NdArrays.toInts(r.labels);
		assertEquals(2, v[32 * 32 + 5 * 32 + 5], "object on plane 1 (slice 2)");
		assertEquals(0, v[5 * 32 + 5], "plane 0 stays unlabeled");
		assertEquals(0, v[2 * 32 * 32 + 21 * 32 + 21], "slice 3 not sent while slice 2 is current");
		stack.setSlice(3);
		run(SendLabels.class, "imp", stack, "source", "Overlay", "labelImage", "", "backgroundColour", "none", "kind", "annotation");
		v = daemonLabels(stack);
		assertEquals(2, v[2 * 32 * 32 + 21 * 32 + 21]);
		assertEquals(2, v[32 * 32 + 5 * 32 + 5], "plane 1 kept");
	}

	@Test
	@Order(5)
	void predictBeforeTrainingSaysModelNotTrained() throws Exception {
		CommandModule m = runAllowingFailure(Predict.class, "imp", imp, "output", "Both", "probThresh", 0.0, "nmsThresh", 0.0);
		Integer code = ((SparsecellCommand) m.getCommand()).errorCode();
		assertTrue(m.isCanceled());
		assertEquals(RpcException.MODEL_NOT_TRAINED, code);
	}

	@Test
	@Order(6)
	void trainRunsAFewSteps() throws Exception {
		CommandModule m = runModel(Train.class, "family", "session", "startFrom", Train.SCRATCH, "steps", 10, "live", false, "patchSize", 32, "batchSize", 2, "reset", false, "waitForEnd", true);
		assertEquals("done", out(m, "state"));
		assertEquals(10, out(m, "stepsDone"));
		assertFalse(Double.isNaN((Double) out(m, "loss")));
		assertNotNull(Sparsecell.current().client.sessionGet(Sparsecell.current().sessionId).modelVersion);
	}

	@Test
	@Order(7)
	void predictFillsRoisAndALabelImage() throws Exception {
		CommandModule m = runModel(Predict.class, "imp", imp, "output", "Both", "probThresh", 0.05, "nmsThresh", 0.0);
		int objects = (Integer) out(m, "objects");
		ImagePlus labels = (ImagePlus) m.getOutput("labelImage");
		assertNotNull(labels);
		assertEquals("cells-labels", labels.getTitle());
		assertEquals(64, labels.getWidth());
		Predict p = (Predict) m.getCommand();
		assertEquals("Overlay", p.roisWentTo, "headless: the ROI Manager falls back to the overlay");
		long predicted = Arrays.stream(imp.getOverlay().toArray()).filter(RoiLabels::isPrediction).count();
		assertEquals(objects, predicted);
		assertTrue(objects > 0, "the model finds objects");
		assertTrue(labels.getStatistics().max > 0, "label image has objects");
		// annotations are kept, predictions are not sent back as labels
		assertEquals(4, imp.getOverlay().size() - predicted);
		CommandModule s = run(SendLabels.class, "imp", imp, "source", "Overlay", "labelImage", "", "backgroundColour", "none", "kind", "annotation");
		assertEquals(false, out(s, "sent"));
		// predicting again replaces the earlier predictions
		runModel(Predict.class, "imp", imp, "output", "ROI Manager", "probThresh", 0.05, "nmsThresh", 0.0);
		assertEquals(predicted, Arrays.stream(imp.getOverlay().toArray()).filter(RoiLabels::isPrediction).count());
		CommandModule only = runModel(Predict.class, "imp", imp, "output", "Label image", "probThresh", 0.05, "nmsThresh", 0.0);
		assertNotNull(only.getOutput("labelImage"));
	}

	@Test
	@Order(8)
	void suggestDrawsRectanglesAndNextSuggestionVisitsThemBestFirst() throws Exception {
		CommandModule none = runAllowingFailure(NextSuggestion.class);
		if (Sparsecell.current().suggestions() == null) assertTrue(none.isCanceled(), "no suggestions yet: a clear failure");
		CommandModule m = runModel(Suggest.class, "imp", imp, "count", 10);
		int n = (Integer) out(m, "suggestions");
		assertTrue(n > 0, "two of the five discs are not annotated: something to suggest");
		List<Roi> drawn = new ArrayList<>();
		for (Roi r : imp.getOverlay().toArray()) if (RoiLabels.isSuggestion(r)) drawn.add(r);
		assertEquals(n, drawn.size());
		List<Suggestion> list = Sparsecell.current().suggestions().list();
		for (int i = 0; i < n; i++) {
			Suggestion g = list.get(i);
			assertTrue(drawn.get(i).getName().contains(g.reason), drawn.get(i).getName());
			assertEquals("object".equals(g.kind) ? Suggestions.OBJECT_COLOUR : Suggestions.AREA_COLOUR, drawn.get(i).getStrokeColor());
			if (i > 0) assertTrue(g.score <= list.get(i - 1).score, "best first");
		}
		// the rectangles are not annotations: nothing new is sent
		assertEquals(false, out(run(SendLabels.class, "imp", imp, "source", "Overlay", "labelImage", "", "backgroundColour", "none", "kind", "annotation"), "sent"));
		for (int i = 0; i < Math.min(2, n); i++) {
			CommandModule next = run(NextSuggestion.class);
			Suggestion g = list.get(i);
			assertEquals(i + 1, out(next, "position"));
			assertEquals(g.reason, out(next, "reason"));
			assertEquals((g.region[1] + g.region[3]) / 2.0, (Double) out(next, "centerX"), 1e-9);
			java.awt.Rectangle sel = imp.getRoi().getBounds();
			assertEquals(new java.awt.Rectangle(g.region[1], g.region[0], g.region[3] - g.region[1], g.region[2] - g.region[0]), sel);
		}
		imp.deleteRoi();
	}

	@Test
	@Order(8)
	void liveModeDrawsPredictionsAndFollowsNewRois() throws Exception {
		ImagePlus live = Synthetic.image("live.tif");
		Overlay ov = new Overlay();
		for (Roi r : Synthetic.rois(2)) ov.add(r);
		live.setOverlay(ov);
		CommandModule m = runModel(Live.class, "imp", live, "action", "start", "source", "Overlay", "backgroundColour", "none", "intervalMs", 200, "patchSize", 32, "batchSize", 2);
		LiveMode lm = ((Live) m.getCommand()).liveMode;
		assertNotNull(lm);
		assertNotNull(out(m, "jobId"));
		try {
			long deadline = System.currentTimeMillis() + 60_000;
			while (lm.updates() == 0 && System.currentTimeMillis() < deadline) Thread.sleep(100);
			assertTrue(lm.updates() > 0, "prediction.updated drawn as an overlay");
			// the first push is followed by suggestions.updated, drawn as suggestion rectangles
			while (lm.suggestionUpdates() == 0 && System.currentTimeMillis() < deadline) Thread.sleep(100);
			assertTrue(lm.suggestionUpdates() > 0, "suggestions.updated received");
			assertEquals(Sparsecell.current().suggestions().list().size(), Arrays.stream(live.getOverlay().toArray()).filter(RoiLabels::isSuggestion).count());
			// keep annotating: the new ROI reaches the daemon without Send Labels
			int[] d = Synthetic.DISCS[2];
			live.getOverlay().add(new OvalRoi(d[0] - d[2], d[1] - d[2], 2 * d[2] + 1, 2 * d[2] + 1));
			int[] want = RoiLabels.rasterize(Synthetic.rois(2).subList(0, 2), 64, 64, null);
			int[] bg = RoiLabels.rasterize(Synthetic.rois(3), 64, 64, null);
			deadline = System.currentTimeMillis() + 20_000;
			int objects = 0;
			while (System.currentTimeMillis() < deadline) {
				Sparsecell s = Sparsecell.current();
				objects = s.client.labelsGet(s.sessionId, s.linkOrNull(live).imageId, "offset1").counts.objects;
				if (objects == 3) break;
				Thread.sleep(100);
			}
			assertEquals(3, objects);
			assertArrayEquals(bg, daemonLabels(live), "background + 3 objects");
			assertNotNull(want);
		}
		finally {
			run(Live.class, "imp", live, "action", "stop", "source", "Overlay", "backgroundColour", "none", "intervalMs", 200, "patchSize", 0, "batchSize", 0);
		}
		assertNull(Sparsecell.current().live());
		String jobId = (String) out(m, "jobId");
		assertEquals("cancelled", Sparsecell.current().client.progressEnd(jobId).get(30, TimeUnit.SECONDS).state);
	}

	@Test
	@Order(9)
	void exportAndImportModel() throws Exception {
		Path dir = Files.createTempDirectory("sparsecell-model");
		try {
			File f = dir.resolve("sub/model.scm").toFile();
			CommandModule ex = runModel(ExportModel.class, "file", f);
			assertTrue(f.isFile());
			assertEquals(f.length(), (long) (Long) out(ex, "bytes"));
			int v = (Integer) out(ex, "modelVersion");
			CommandModule im = runModel(ImportModel.class, "file", f);
			assertEquals("stardist", out(im, "family"));
			assertTrue((Integer) out(im, "modelVersion") >= v);
			CommandModule missing = runAllowingFailure(ImportModel.class, "file", dir.resolve("none.scm").toFile());
			assertTrue(missing.isCanceled());

			// bioimage.io package: zip with rdf.yaml + ONNX weights, and it imports back
			File zip = dir.resolve("pkg/model.zip").toFile();
			CommandModule bx = runModel(ExportBioimageio.class, "file", zip, "name", "fiji test model", "authors", "A. One; B. Two", "license", "MIT");
			assertEquals(zip.length(), (long) (Long) out(bx, "bytes"));
			try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(zip)) {
				for (String n : new String[] {"rdf.yaml", "weights.onnx", "test_input.npy", "test_output.npy", "cover.png", "README.md"})
					assertNotNull(z.getEntry(n), n + " in the package");
				String rdf = new String(z.getInputStream(z.getEntry("rdf.yaml")).readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
				assertTrue(rdf.contains("name: fiji test model") && rdf.contains("license: MIT") && rdf.contains("- name: B. Two"), rdf);
				assertTrue(rdf.contains("family: stardist") && rdf.contains("n_rays:"), rdf);
			}
			CommandModule bi = runModel(ImportModel.class, "file", zip);
			assertEquals("stardist", out(bi, "family"));
			CommandModule badName = runAllowingFailure(ExportBioimageio.class, "file", zip, "name", "a/b", "authors", "", "license", "");
			assertTrue(badName.isCanceled());
			assertTrue(badName.getCancelReason().contains("/name"), badName.getCancelReason());
		}
		finally {
			TestDaemon.deleteTree(dir);
		}
	}

	@Test
	@Order(10)
	void liveTrainingStopsWithCancel() throws Exception {
		CommandModule t = runModel(Train.class, "family", "session", "startFrom", Train.SCRATCH, "steps", 10, "live", true, "patchSize", 32, "batchSize", 2, "reset", false, "waitForEnd", true);
		String jobId = (String) out(t, "jobId");
		assertNotNull(jobId);
		CommandModule c = run(Cancel.class);
		assertEquals(true, out(c, "cancelled"));
		assertEquals("cancelled", Sparsecell.current().client.progressEnd(jobId).get(30, TimeUnit.SECONDS).state);
		assertEquals(false, out(run(Cancel.class), "cancelled"));
	}

	@Test
	@Order(11)
	void connectCanStartALocalDaemon() throws Exception {
		Path tmp = Files.createTempDirectory("sparsecell-local");
		File exe = tmp.resolve("sparsecell").toFile();
		String script = "#!/bin/sh\nexec node '" + TestDaemon.mainJs().getAbsolutePath() + "' \"$@\" --home '" + tmp.resolve("home") + "' --log-level warn\n";
		Files.write(exe.toPath(), script.getBytes(StandardCharsets.UTF_8));
		assertTrue(exe.setExecutable(true));
		System.setProperty("sparsecell.executable", exe.getAbsolutePath());
		try {
			CommandModule m = run(Connect.class, "url", "ws://unused:1", "token", "", "startLocal", true, "session", "", "name", "local", "family", "elephant", "config", "");
			String url = (String) out(m, "daemonUrl");
			assertTrue(url.startsWith("ws://127.0.0.1:"), url);
			assertNotEquals(TestDaemon.url(), url);
			LocalDaemon d = Sparsecell.current().daemon();
			assertTrue(d.isAlive());
			assertEquals("elephant", Sparsecell.current().family);
			run(Disconnect.class);
			assertFalse(d.isAlive(), "Disconnect stops the daemon Connect started");
			assertNull(Sparsecell.currentOrNull());
		}
		finally {
			System.clearProperty("sparsecell.executable");
			Sparsecell.disconnect();
			TestDaemon.deleteTree(tmp);
		}
	}
}
