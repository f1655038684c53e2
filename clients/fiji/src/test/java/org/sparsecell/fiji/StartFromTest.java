package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.scijava.Context;
import org.scijava.command.Command;
import org.scijava.command.CommandModule;
import org.scijava.command.CommandService;
import org.sparsecell.fiji.commands.Connect;
import org.sparsecell.fiji.commands.SendLabels;
import org.sparsecell.fiji.commands.Train;
import org.sparsecell.fiji.protocol.Protocol.ModelTrainParams;
import org.sparsecell.fiji.protocol.Protocol.ServerInfoResult;
import org.sparsecell.fiji.protocol.Protocol.SessionInfo;
import org.sparsecell.fiji.rpc.RpcClient;

import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.Roi;

/**
 * "sparsecell Train › Start from: built-in nuclei model / scratch / file…" reaches the daemon. A tiny StarDist-like
 * model trained on the shared test daemon is written, with its card (sha256), to a models folder as `npm run
 * pretrain` writes models/; a second daemon serves it (--models-dir). A cellpose model file proves the import.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StartFromTest {
	static Path dir;
	static LocalDaemon daemon;
	static Context ctx;
	static CommandService cs;
	static File cellposeFile;

	/** A tiny trained model of a family, exported from the shared test daemon. */
	static byte[] trainedArchive(RpcClient c, String family) throws Exception {
		String sid = RpcClientTest.sessionWithLabels(c, "starter-" + family, family, 5)[0];
		ModelTrainParams tp = new ModelTrainParams();
		tp.sessionId = sid;
		tp.steps = 5;
		String job = c.modelTrain(tp).jobId;
		assertEquals("done", c.progressEnd(job).get(120, TimeUnit.SECONDS).state);
		return Base64.getDecoder().decode(c.modelExport(sid).model);
	}

	static String sha256(byte[] b) throws Exception {
		StringBuilder s = new StringBuilder();
		for (byte x : MessageDigest.getInstance("SHA-256").digest(b)) s.append(String.format("%02x", x));
		return s.toString();
	}

	@BeforeAll
	static void setUp() throws Exception {
		dir = Files.createTempDirectory("sparsecell-fiji-starters");
		Path models = Files.createDirectories(dir.resolve("models"));
		try (RpcClient c = RpcClient.connect(TestDaemon.url(), TestDaemon.TOKEN)) {
			byte[] starter = trainedArchive(c, "stardist");
			Files.write(models.resolve("nuclei-stardist.scm"), starter);
			String card = "{\"name\":\"nuclei\",\"family\":\"stardist\",\"description\":\"Fiji test starter\",\"file\":\"models/nuclei-stardist.scm\","
				+ "\"sha256\":\"" + sha256(starter) + "\",\"scores\":{\"accuracy05\":0.5,\"f1\":0.6,\"pq\":0.4}}";
			Files.write(models.resolve("nuclei-stardist.json"), card.getBytes(StandardCharsets.UTF_8));
			cellposeFile = dir.resolve("cellpose.scm").toFile();
			Files.write(cellposeFile.toPath(), trainedArchive(c, "cellpose"));
		}
		List<String> cmd = TestDaemon.command(Files.createDirectories(dir.resolve("home")));
		cmd.addAll(List.of("--token", TestDaemon.TOKEN, "--models-dir", models.toString()));
		daemon = LocalDaemon.start(cmd, Duration.ofSeconds(60));
		ctx = new Context(CommandService.class);
		cs = ctx.service(CommandService.class);
	}

	@AfterAll
	static void tearDown() {
		Sparsecell.disconnect();
		if (ctx != null) ctx.dispose();
		if (daemon != null) daemon.stop();
		TestDaemon.deleteTree(dir);
	}

	static CommandModule run(Class<? extends Command> c, Object... inputs) throws Exception {
		CommandModule m = cs.run(c, true, inputs).get(200, TimeUnit.SECONDS);
		assertFalse(m.isCanceled(), c.getSimpleName() + " failed: " + m.getCancelReason());
		return m;
	}

	static SessionInfo session() throws Exception {
		Sparsecell s = Sparsecell.current();
		return s.client.sessionGet(s.sessionId);
	}

	static CommandModule train(String startFrom, Object... more) throws Exception {
		Object[] base = { "family", "session", "startFrom", startFrom, "timeLimit", 0.0, "steps", 2, "live", false, "patchSize", 32, "batchSize", 2, "reset", false, "waitForEnd", true };
		Object[] all = java.util.Arrays.copyOf(base, base.length + more.length);
		System.arraycopy(more, 0, all, base.length, more.length);
		return run(Train.class, all);
	}

	@Test
	void startFromReachesTheDaemon() throws Exception {
		run(Connect.class, "url", daemon.url(), "token", TestDaemon.TOKEN, "startLocal", false, "session", "", "name", "fiji-start", "family", "stardist", "config", "");
		ServerInfoResult info = Sparsecell.current().client.serverInfo();
		assertEquals("nuclei", info.starterModels.get(0).name);
		assertTrue(info.recipe.budgetS > 0);
		ImagePlus imp = Synthetic.image("cells.tif");
		Overlay ov = new Overlay();
		for (Roi r : Synthetic.rois(5)) ov.add(r); // 5 objects: a starter adapts to the images before its first step
		imp.setOverlay(ov);
		run(SendLabels.class, "imp", imp, "source", "Overlay", "kind", "annotation");
		assertNull(session().starter);

		// The dialog's default: the built-in nuclei model (model.train {from: "starter"}), fine-tuned by the labels.
		assertEquals(Train.BUILT_IN, new Train().startFrom);
		assertEquals(0, new Train().steps);
		assertEquals(0.0, new Train().timeLimit);
		CommandModule m = train(Train.BUILT_IN);
		assertEquals("done", m.getCommand().getClass().getField("state").get(m.getCommand()));
		SessionInfo si = session();
		assertEquals("nuclei", si.starter);
		assertTrue(si.modelVersion >= 1);
		// the starter adapted to the labeled images first (bright discs: not inverted), and the Log says so
		assertNotNull(si.adaptation, "session.get adaptation");
		assertFalse(si.adaptation.invert);
		Object messages = m.getCommand().getClass().getField("messages").get(m.getCommand());
		assertTrue(String.valueOf(messages).contains("starter adapted to your images from 5 labeled objects"), "progress messages: " + messages);
		int v = si.modelVersion;
		// Again: continues the fine-tuned model (no second "from").
		train(Train.BUILT_IN);
		assertTrue(session().modelVersion > v);
		assertEquals("nuclei", session().starter);

		// scratch: model.train {from: "scratch"}: the session no longer has a starter.
		train(Train.SCRATCH);
		assertNull(session().starter);

		// file…: the file is imported into the session (a cellpose model: the session's family follows it).
		assertEquals("stardist", session().family);
		train(Train.FILE, "modelFile", cellposeFile);
		assertEquals("cellpose", session().family);
		assertEquals(cellposeFile.getCanonicalPath(), Sparsecell.current().startModelFile);
	}
}
