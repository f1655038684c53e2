package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;


/**
 * The real daemon the tests talk to: `node <repo>/dist/server/main.js serve --port 0 --home <tmp> --token T`,
 * started once per test JVM (on first use) and stopped, its home deleted, when the JVM exits. The repository root
 * is the Maven basedir's ../.. (system property sparsecell.repo); dist/ must have been built (npm run build).
 */
public final class TestDaemon {
	public static final String TOKEN = "fiji-test-token-0123";

	private static LocalDaemon daemon;
	private static Path home;

	private TestDaemon() {}

	public static File repo() {
		String r = System.getProperty("sparsecell.repo");
		File f = r != null ? new File(r) : new File(System.getProperty("user.dir"), "../..");
		try {
			return f.getCanonicalFile();
		}
		catch (IOException e) {
			return f.getAbsoluteFile();
		}
	}

	/** The daemon entry point: dist/server/main.js of the repository (or -Dsparsecell.daemon.main). */
	public static File mainJs() {
		String override = System.getProperty("sparsecell.daemon.main");
		File main = override != null && !override.isEmpty() ? new File(override) : new File(repo(), "dist/server/main.js");
		if (!main.isFile()) {
			fail("the sparsecell daemon is not built: " + main + " is missing. Run `npm run build` in " + repo() + " first (the project test command does).");
		}
		return main;
	}

	/** The daemon command line for a given home (no token). */
	public static List<String> command(Path home) {
		return new ArrayList<>(Arrays.asList("node", mainJs().getAbsolutePath(), "serve", "--port", "0", "--home", home.toString(), "--log-level", "warn"));
	}

	/** ws:// URL of the shared test daemon (requires {@link #TOKEN}). */
	public static synchronized String url() {
		if (daemon == null || !daemon.isAlive()) {
			try {
				home = Files.createTempDirectory("sparsecell-fiji-test");
				List<String> cmd = command(home);
				cmd.add("--token");
				cmd.add(TOKEN);
				daemon = LocalDaemon.start(cmd, Duration.ofSeconds(60));
				Runtime.getRuntime().addShutdownHook(new Thread(TestDaemon::stop));
			}
			catch (IOException e) {
				fail("could not start the sparsecell daemon: " + e.getMessage(), e);
			}
		}
		return daemon.url();
	}

	public static synchronized void stop() {
		if (daemon != null) daemon.stop();
		daemon = null;
		deleteTree(home);
	}

	public static void deleteTree(Path p) {
		if (p == null || !Files.exists(p)) return;
		try (Stream<Path> s = Files.walk(p)) {
			s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
		}
		catch (IOException e) {
			// best effort
		}
	}
}
