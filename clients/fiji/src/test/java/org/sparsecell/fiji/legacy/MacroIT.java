package org.sparsecell.fiji.legacy;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.GraphicsEnvironment;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.scijava.command.CommandInfo;
import org.scijava.command.CommandService;
import org.scijava.module.ModuleItem;
import org.scijava.module.ModuleService;
import org.sparsecell.fiji.LiveMode;
import org.sparsecell.fiji.LocalDaemon;
import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.Synthetic;
import org.sparsecell.fiji.TestDaemon;
import org.sparsecell.fiji.commands.Cancel;
import org.sparsecell.fiji.commands.Connect;
import org.sparsecell.fiji.commands.ExportBioimageio;
import org.sparsecell.fiji.commands.ExportModel;
import org.sparsecell.fiji.commands.ImportModel;
import org.sparsecell.fiji.commands.Live;
import org.sparsecell.fiji.commands.NextSuggestion;
import org.sparsecell.fiji.commands.Predict;
import org.sparsecell.fiji.commands.SendLabels;
import org.sparsecell.fiji.commands.Suggest;
import org.sparsecell.fiji.commands.Train;
import org.sparsecell.fiji.imaging.NdArrays;
import org.sparsecell.fiji.imaging.RoiLabels;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.Roi;
import ij.plugin.frame.Recorder;
import ij.plugin.frame.RoiManager;

/**
 * Every sparsecell command driven from ImageJ 1.x macros, as a user records and replays them: ImageJ 1.x patched by
 * ij1-patcher with the {@link LegacyBridge} in place of imagej-legacy, the plugin jar on the class path, real windows
 * (ImageJ, image windows, ROI Manager, Recorder: ci.sh runs this under Xvfb), a real daemon.
 * <ol>
 * <li>the commands are run from the Plugins › sparsecell menu with the Recorder open, and the recorded lines are
 * checked word for word (they are the lines the Fiji README documents);</li>
 * <li>those recorded lines are then run as macros, one by one, and each one's effect is checked: the labels the
 * daemon holds, the trained model, ROIs in the ROI Manager, the label image window, the model file, live mode.</li>
 * </ol>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class MacroIT {
	static final String[] LABELS = { "sparsecell Connect", "sparsecell Send Labels", "sparsecell Train", "sparsecell Cancel", "sparsecell Predict", "sparsecell Live Mode", "sparsecell Export Model", "sparsecell Import Model", "sparsecell Export for bioimage.io...", "sparsecell Disconnect", "sparsecell Suggest", "Go to next suggestion" };

	static LegacyBridge bridge;
	static LocalDaemon daemon;
	static Path home, dir;
	static String url, model, bioimageio;
	static ImagePlus cells, annotations;
	/** The run("sparsecell …") lines the Recorder wrote, in order. */
	static List<String> recorded = new ArrayList<>();

	@BeforeAll
	static void start() throws Exception {
		bridge = LegacyBridge.start(); // fails unless ij1-patcher's agent patched ImageJ 1.x (pom.xml, Failsafe)
		assertFalse(GraphicsEnvironment.isHeadless(), "this suite needs a display (clients/fiji/ci.sh starts Xvfb)");
		home = Files.createTempDirectory("sparsecell-fiji-macro-home");
		dir = Files.createTempDirectory("sparsecell-fiji-macro");
		model = dir.resolve("model.scm").toString();
		bioimageio = dir.resolve("model.zip").toString();
		// a daemon without a token, as a local user runs it (`sparsecell serve`): the recorded lines then replay as is
		daemon = LocalDaemon.start(TestDaemon.command(home), Duration.ofSeconds(60));
		url = daemon.url();
		cells = Synthetic.image("cells");
		cells.show();
		RoiManager rm = RoiManager.getRoiManager();
		for (Roi r : Synthetic.rois(3)) rm.addRoi(r);
		annotations = annotationImage();
		annotations.show();
		select(cells);
	}

	@AfterAll
	static void stop() {
		Sparsecell.disconnect();
		if (bridge != null) bridge.stop();
		if (daemon != null) daemon.stop();
		TestDaemon.deleteTree(home);
		TestDaemon.deleteTree(dir);
	}

	/** A 16-bit offset-1 label image: discs 3 and 4 as objects 1 and 2, a background strip, the rest unlabeled. */
	static ImagePlus annotationImage() {
		ij.process.ShortProcessor ip = new ij.process.ShortProcessor(64, 64);
		int[] lab = RoiLabels.rasterize(Arrays.asList(Synthetic.rois(0).get(0)), 64, 64, null); // the background strip
		for (int i = 0; i < lab.length; i++) ip.set(i % 64, i / 64, lab[i]);
		for (int k = 0; k < 2; k++) {
			int[] d = Synthetic.DISCS[2 + k];
			for (int y = 0; y < 64; y++)
				for (int x = 0; x < 64; x++)
					if ((x - d[0]) * (x - d[0]) + (y - d[1]) * (y - d[1]) <= d[2] * d[2]) ip.set(x, y, k + 2);
		}
		return new ImagePlus("annotations", ip);
	}

	/** Bring an image window to the front (window activation events arrive later, so wait for them). */
	static void select(ImagePlus imp) throws Exception {
		long deadline = System.currentTimeMillis() + 10_000;
		while (WindowManager.getCurrentImage() != imp && System.currentTimeMillis() < deadline) {
			IJ.selectWindow(imp.getID());
			Thread.sleep(200);
		}
		assertSame(imp, WindowManager.getCurrentImage());
	}

	/** Remember a dialog value, as clicking OK in the command's dialog does (SciJava persisted parameters). */
	static void dialogValue(Class<?> command, String input, Object value) {
		CommandInfo info = bridge.context.service(CommandService.class).getCommand(command.getName());
		@SuppressWarnings("unchecked")
		ModuleItem<Object> item = (ModuleItem<Object>) info.getInput(input);
		assertNotNull(item, command.getSimpleName() + " has the input " + input);
		bridge.context.service(ModuleService.class).save(item, value);
	}

	/** Choose Plugins › sparsecell › label, as a user does (ImageJ 1.x's Executer, on its own thread). */
	static void menu(String label) throws Exception {
		int before = bridge.finished.get();
		int failed = bridge.failures.size();
		new ij.Executer(label, WindowManager.getCurrentImage());
		long deadline = System.currentTimeMillis() + 120_000;
		while (bridge.finished.get() == before && System.currentTimeMillis() < deadline) Thread.sleep(50);
		assertTrue(bridge.finished.get() > before, label + " did not end; ImageJ's Log:\n" + IJ.getLog());
		assertEquals(failed, bridge.failures.size(), "failures: " + bridge.failures);
	}

	/** Run macro text on a macro thread of its own; it must end normally. */
	static void macro(String text) throws Exception {
		int failed = bridge.failures.size();
		AtomicReference<String> result = new AtomicReference<>();
		Thread t = new Thread(() -> result.set(IJ.runMacro(text)), "macro");
		t.start();
		t.join(150_000);
		assertFalse(t.isAlive(), "macro still running: " + text);
		assertEquals(failed, bridge.failures.size(), "failures: " + bridge.failures + " in " + text + "\nImageJ's Log:\n" + IJ.getLog());
		assertNotEquals("[aborted]", result.get(), text);
	}

	static String recorderText() throws Exception {
		AtomicReference<String> text = new AtomicReference<>();
		java.awt.EventQueue.invokeAndWait(() -> text.set(Recorder.getInstance() == null ? "" : Recorder.getInstance().getText()));
		return text.get();
	}

	static int[] daemonLabels(ImagePlus imp) throws Exception {
		Sparsecell s = Sparsecell.current();
		return NdArrays.toInts(s.client.labelsGet(s.sessionId, s.linkOrNull(imp).imageId, "offset1").labels);
	}

	static long predictedRois() {
		RoiManager rm = RoiManager.getInstance();
		return rm == null ? 0 : Arrays.stream(rm.getRoisAsArray()).filter(RoiLabels::isPrediction).count();
	}

	@Test
	@Order(0)
	void theCommandsAreImageJ1CommandsFromThePluginJar() {
		assertEquals(Arrays.stream(LABELS).sorted().collect(Collectors.toList()), new ArrayList<>(bridge.registered().keySet()));
		assertEquals("command:" + Connect.class.getName(), bridge.registered().get("sparsecell Connect"));
		String where = Connect.class.getProtectionDomain().getCodeSource().getLocation().getPath();
		assertTrue(where.matches(".*/sparsecell_fiji-[^/]*\\.jar"), "the commands load from the plugin jar, not " + where);
		java.awt.Menu plugins = ij.Menus.getImageJMenu("Plugins");
		assertTrue(java.util.stream.IntStream.range(0, plugins.getItemCount()).anyMatch(i -> plugins.getItem(i) == bridge.menu), "Plugins › sparsecell is in ImageJ's menu bar");
		assertEquals(LABELS.length, bridge.menu.getItemCount());
		assertNotNull(IJ.getInstance(), "the ImageJ window is up");
		assertNotNull(RoiManager.getInstance(), "a real ROI Manager (not the headless overlay fallback)");
		assertEquals(4, RoiManager.getInstance().getCount());
	}

	@Test
	@Order(1)
	void runFromTheMenuWithTheRecorderOpen() throws Exception {
		for (Class<?> c : Arrays.asList(Connect.class, SendLabels.class, Train.class, Predict.class, ExportModel.class, ImportModel.class, Live.class))
			bridge.context.service(org.scijava.prefs.PrefService.class).clear(c); // a fresh Fiji: no remembered values
		java.awt.EventQueue.invokeAndWait(() -> new Recorder());
		assertTrue(Recorder.record, "the Recorder records");
		dialogValue(Connect.class, "url", url);
		dialogValue(Connect.class, "startLocal", false);
		dialogValue(Connect.class, "session", "");
		dialogValue(Connect.class, "name", "macro");
		dialogValue(Connect.class, "family", "stardist");
		dialogValue(Connect.class, "config", "");
		menu("sparsecell Connect");
		dialogValue(SendLabels.class, "source", "ROI Manager");
		dialogValue(SendLabels.class, "labelImage", "");
		dialogValue(SendLabels.class, "backgroundColour", "none");
		dialogValue(SendLabels.class, "kind", "annotation");
		menu("sparsecell Send Labels");
		dialogValue(SendLabels.class, "source", "Label image");
		dialogValue(SendLabels.class, "labelImage", "annotations");
		menu("sparsecell Send Labels");
		dialogValue(Train.class, "family", "session");
		dialogValue(Train.class, "startFrom", Train.BUILT_IN);
		dialogValue(Train.class, "timeLimit", 0.0);
		dialogValue(Train.class, "steps", 10);
		dialogValue(Train.class, "live", false);
		dialogValue(Train.class, "patchSize", 32);
		dialogValue(Train.class, "batchSize", 2);
		dialogValue(Train.class, "reset", false);
		dialogValue(Train.class, "waitForEnd", true);
		menu("sparsecell Train");
		dialogValue(Predict.class, "output", "Both");
		dialogValue(Predict.class, "probThresh", 0.0);
		dialogValue(Predict.class, "nmsThresh", 0.0);
		menu("sparsecell Predict");
		select(cells);
		dialogValue(Suggest.class, "count", 5);
		menu("sparsecell Suggest");
		menu("Go to next suggestion");
		LegacyProcessors.chosenFile = new File(model); // the file chooser's answer
		menu("sparsecell Export Model");
		menu("sparsecell Import Model");
		LegacyProcessors.chosenFile = new File(bioimageio);
		dialogValue(ExportBioimageio.class, "name", "macro model");
		dialogValue(ExportBioimageio.class, "authors", "A. One; B. Two");
		dialogValue(ExportBioimageio.class, "license", "MIT");
		menu("sparsecell Export for bioimage.io...");
		LegacyProcessors.chosenFile = null;
		dialogValue(Live.class, "action", "start");
		dialogValue(Live.class, "source", "ROI Manager");
		dialogValue(Live.class, "backgroundColour", "none");
		dialogValue(Live.class, "intervalMs", 500);
		dialogValue(Live.class, "patchSize", 32);
		dialogValue(Live.class, "batchSize", 2);
		menu("sparsecell Live Mode");
		String liveJob = ((Live) bridge.lastCommand("sparsecell Live Mode")).jobId;
		dialogValue(Live.class, "action", "stop");
		menu("sparsecell Live Mode");
		assertEquals("cancelled", Sparsecell.current().client.progressEnd(liveJob).get(30, TimeUnit.SECONDS).state);
		dialogValue(Train.class, "live", true);
		dialogValue(Train.class, "waitForEnd", false);
		menu("sparsecell Train");
		menu("sparsecell Cancel");
		menu("sparsecell Disconnect");
		String text = recorderText();
		for (String line : text.split("\n"))
			if (!line.trim().isEmpty()) recorded.add(line);
		String m = model;
		// Word for word what ImageJ's Recorder wrote: empty text as `key=`, numbers as Java prints them, no image
		// (the command works on the current image: the Recorder adds selectImage when you click another window),
		// no token (a password field), no file left empty.
		List<String> want = Arrays.asList( //
			"run(\"sparsecell Connect\", \"url=" + url + " startlocal=false session= name=macro family=stardist config=\");", //
			"run(\"sparsecell Send Labels\", \"source=[ROI Manager] labelimage= backgroundcolour=none kind=annotation\");", //
			"run(\"sparsecell Send Labels\", \"source=[Label image] labelimage=annotations backgroundcolour=none kind=annotation\");", //
			"run(\"sparsecell Train\", \"family=session startfrom=[built-in nuclei model] modelfile= timelimit=0.0 steps=10 live=false patchsize=32 batchsize=2 reset=false waitforend=true\");", //
			"run(\"sparsecell Predict\", \"output=Both probthresh=0.0 nmsthresh=0.0\");", //
			"selectImage(\"cells\");", //
			"run(\"sparsecell Suggest\", \"count=5\");", //
			"run(\"Go to next suggestion\");", //
			"run(\"sparsecell Export Model\", \"file=" + m + "\");", //
			"run(\"sparsecell Import Model\", \"file=" + m + "\");", //
			"run(\"sparsecell Export for bioimage.io...\", \"file=" + bioimageio + " name=[macro model] authors=[A. One; B. Two] license=MIT\");", //
			"run(\"sparsecell Live Mode\", \"action=start source=[ROI Manager] backgroundcolour=none intervalms=500 patchsize=32 batchsize=2\");", //
			"run(\"sparsecell Live Mode\", \"action=stop source=[ROI Manager] backgroundcolour=none intervalms=500 patchsize=32 batchsize=2\");", //
			"run(\"sparsecell Train\", \"family=session startfrom=[built-in nuclei model] modelfile= timelimit=0.0 steps=10 live=true patchsize=32 batchsize=2 reset=false waitforend=false\");", //
			"run(\"sparsecell Cancel\");", //
			"run(\"sparsecell Disconnect\");");
		assertEquals(String.join("\n", want), String.join("\n", recorded), "the Recorder's text");
		java.awt.EventQueue.invokeAndWait(() -> Recorder.getInstance().close());
	}

	/** The recorded line that starts with the given text (the replay runs the Recorder's own lines). */
	static String line(int index, String start) {
		String l = recorded.get(index);
		assertTrue(l.startsWith(start), l);
		return l;
	}

	@Test
	@Order(2)
	void theRecordedLinesReplayAsAMacro() throws Exception {
		assertEquals(16, recorded.size(), "recorded first");
		ImagePlus oldLabels = WindowManager.getImage("cells-labels");
		assertNotNull(oldLabels, "Predict from the menu showed its label image");
		oldLabels.changes = false;
		oldLabels.close();
		Files.deleteIfExists(Path.of(model));
		Files.deleteIfExists(Path.of(bioimageio));
		long predictedBefore = predictedRois();
		assertTrue(predictedBefore > 0, "Predict from the menu put its objects into the ROI Manager");
		select(annotations); // the replay must pick its image itself

		macro(line(0, "run(\"sparsecell Connect\"") + "\nselectImage(\"cells\");");
		Sparsecell s = Sparsecell.current();
		assertEquals("macro", s.client.sessionGet(s.sessionId).name);

		macro(line(1, "run(\"sparsecell Send Labels\", \"source=[ROI Manager]"));
		assertArrayEquals(RoiLabels.rasterize(Synthetic.rois(3), 64, 64, null), daemonLabels(cells), "the ROI Manager's 3 objects and background");
		assertEquals(3, ((SendLabels) bridge.lastCommand("sparsecell Send Labels")).objects);

		macro(line(2, "run(\"sparsecell Send Labels\", \"source=[Label image]"));
		int[] want = new int[64 * 64];
		for (int i = 0; i < want.length; i++) want[i] = annotations.getProcessor().get(i % 64, i / 64);
		assertEquals(2, Arrays.stream(want).max().getAsInt() - 1, "the label image holds 2 objects");
		assertArrayEquals(want, daemonLabels(cells), "the label image's objects and background");

		macro(line(3, "run(\"sparsecell Train\""));
		Train train = (Train) bridge.lastCommand("sparsecell Train");
		assertEquals("done", train.state);
		assertEquals(10, train.stepsDone);
		assertNotNull(s.client.sessionGet(s.sessionId).modelVersion);

		macro(line(4, "run(\"sparsecell Predict\""));
		Predict p = (Predict) bridge.lastCommand("sparsecell Predict");
		assertTrue(p.objects > 0, "the model finds objects");
		ImagePlus labels = WindowManager.getImage("cells-labels");
		assertNotNull(labels, "the label image is shown in a window");
		assertNotNull(labels.getWindow());
		assertEquals(p.objects, (int) labels.getStatistics().max, "label image: objects 1..n");
		assertEquals(predictedBefore, predictedRois(), "the ROI Manager's predictions are replaced, not added to");
		assertSame(labels, WindowManager.getCurrentImage());
		assertEquals("ROI Manager", p.roisWentTo, "a real ROI Manager, not the headless overlay fallback");
		// the other two outputs, written as the Recorder writes a choice with a space
		labels.changes = false;
		labels.close();
		// imp= names the image (here not the current one)
		macro("selectImage(\"annotations\");\nrun(\"sparsecell Predict\", \"imp=cells output=[Label image] probthresh=0.0 nmsthresh=0.0\");");
		assertSame(cells, ((Predict) bridge.lastCommand("sparsecell Predict")).imp, "imp=cells picked the image by its title");
		ImagePlus only = WindowManager.getImage("cells-labels");
		assertNotNull(only, "output=[Label image] shows a label image");
		assertEquals(p.objects, (int) only.getStatistics().max);
		only.changes = false;
		only.close();
		RoiManager.getInstance().reset();
		macro("selectImage(\"cells\");\nrun(\"sparsecell Predict\", \"output=[ROI Manager] probthresh=0.0 nmsthresh=0.0\");");
		assertNull(WindowManager.getImage("cells-labels"), "output=[ROI Manager] opens no label image");
		assertEquals(p.objects, predictedRois(), "output=[ROI Manager] fills the ROI Manager");
		for (Roi r : Synthetic.rois(3)) RoiManager.getInstance().addRoi(r); // the annotations again, for live mode

		macro(line(5, "selectImage(\"cells\")"));
		assertSame(cells, WindowManager.getCurrentImage());

		macro(line(6, "run(\"sparsecell Suggest\""));
		Suggest sug = (Suggest) bridge.lastCommand("sparsecell Suggest");
		assertTrue(sug.suggestions > 0 && sug.suggestions <= 5, "count=5 gives 1..5 suggestions, got " + sug.suggestions);
		assertNotNull(cells.getOverlay(), "the suggestions are drawn as an overlay");
		macro(line(7, "run(\"Go to next suggestion\")"));
		NextSuggestion next = (NextSuggestion) bridge.lastCommand("Go to next suggestion");
		assertEquals(1, next.position, "the first suggestion");
		assertTrue(next.centerX >= 0 && next.centerX <= 64 && next.centerY >= 0 && next.centerY <= 64, "its centre lies in the image");
		macro(line(7, "run(\"Go to next suggestion\")"));
		assertEquals(sug.suggestions > 1 ? 2 : 1, ((NextSuggestion) bridge.lastCommand("Go to next suggestion")).position, "then the next one");

		macro(line(8, "run(\"sparsecell Export Model\""));
		assertTrue(new File(model).length() > 0, "the model file was written");
		assertEquals(new File(model).length(), ((ExportModel) bridge.lastCommand("sparsecell Export Model")).bytes);
		macro(line(9, "run(\"sparsecell Import Model\""));
		assertEquals("stardist", ((ImportModel) bridge.lastCommand("sparsecell Import Model")).family);
		macro(line(10, "run(\"sparsecell Export for bioimage.io...\""));
		try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(bioimageio)) {
			String rdf = new String(z.getInputStream(z.getEntry("rdf.yaml")).readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
			assertTrue(rdf.contains("name: macro model") && rdf.contains("- name: B. Two") && rdf.contains("license: MIT"), rdf);
		}

		macro(line(11, "run(\"sparsecell Live Mode\", \"action=start"));
		LiveMode live = Sparsecell.current().live();
		assertNotNull(live, "live mode runs");
		long deadline = System.currentTimeMillis() + 60_000;
		while (live.updates() == 0 && System.currentTimeMillis() < deadline) Thread.sleep(100);
		assertTrue(live.updates() > 0, "live predictions drawn");
		String liveJob = ((Live) bridge.lastCommand("sparsecell Live Mode")).jobId;
		macro(line(12, "run(\"sparsecell Live Mode\", \"action=stop"));
		assertNull(Sparsecell.current().live(), "live mode stopped");

		// the very next line trains: the stop line returned only once the daemon had ended the live job
		macro(line(13, "run(\"sparsecell Train\""));
		Train running = (Train) bridge.lastCommand("sparsecell Train");
		assertEquals("running", running.state);
		assertEquals("cancelled", s.client.progressEnd(liveJob).get(30, TimeUnit.SECONDS).state);
		macro(line(14, "run(\"sparsecell Cancel\")"));
		assertTrue(((Cancel) bridge.lastCommand("sparsecell Cancel")).cancelled);
		assertEquals("cancelled", s.client.progressEnd(running.jobId).get(30, TimeUnit.SECONDS).state);

		macro(line(15, "run(\"sparsecell Disconnect\")"));
		assertNull(Sparsecell.currentOrNull(), "disconnected");
		List<String> ran = new ArrayList<>(bridge.ran);
		assertEquals(33, ran.size(), "every command ran through ImageJ 1.x's command table: " + ran);
		ran.remove(24); // the replay's second Go to next suggestion
		ran.remove(21); // and its two extra Predict runs
		ran.remove(20);
		assertEquals(ran.subList(0, 15), ran.subList(15, 30), "the replay ran the same commands as the menu");
	}
}
