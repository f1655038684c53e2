package org.sparsecell.fiji;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A daemon process this JVM started ("start local daemon" in Connect, and the tests): runs e.g.
 * {@code sparsecell serve --port 0}, waits for the line "sparsecell listening on ws://127.0.0.1:PORT", keeps
 * draining its output, and stops it (SIGTERM, then kill) on {@link #stop()} or when the JVM exits.
 */
public final class LocalDaemon implements AutoCloseable {
	private static final Pattern LISTENING = Pattern.compile("listening on (wss?://\\S+)");

	private final Process process;
	private final String url;
	private final Deque<String> tail;
	private final Thread hook;

	private LocalDaemon(Process process, String url, Deque<String> tail) {
		this.process = process;
		this.url = url;
		this.tail = tail;
		this.hook = new Thread(this::kill, "sparsecell-daemon-stop");
		Runtime.getRuntime().addShutdownHook(hook);
	}

	/** The sparsecell executable on PATH, or null. */
	public static File findOnPath(String name) {
		String path = System.getenv("PATH");
		if (path == null) return null;
		boolean windows = System.getProperty("os.name", "").toLowerCase().contains("win");
		for (String dir : path.split(File.pathSeparator)) {
			if (dir.isEmpty()) continue;
			for (String ext : windows ? new String[] { ".cmd", ".exe", ".bat", "" } : new String[] { "" }) {
				File f = new File(dir, name + ext);
				if (f.isFile() && f.canExecute()) return f;
			}
		}
		return null;
	}

	/**
	 * Start `sparsecell serve --port 0` from PATH (home: the daemon's default, ~/.sparsecell). The system property
	 * sparsecell.executable names another executable (tests, or a daemon installed off PATH).
	 */
	public static LocalDaemon startFromPath() throws IOException {
		String override = System.getProperty("sparsecell.executable");
		File exe = override != null && !override.isEmpty() ? new File(override) : findOnPath("sparsecell");
		if (exe == null) throw new IOException("\"sparsecell\" is not on PATH: install the daemon (npm install -g sparsecell) or start it yourself and connect to its URL");
		List<String> cmd = new ArrayList<>();
		cmd.add(exe.getAbsolutePath());
		cmd.add("serve");
		cmd.add("--port");
		cmd.add("0");
		return start(cmd, Duration.ofSeconds(60));
	}

	/** Start a daemon command line and wait until it prints its URL. */
	public static LocalDaemon start(List<String> command, Duration timeout) throws IOException {
		ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
		Process p = pb.start();
		Deque<String> tail = new ArrayDeque<>();
		CompletableFuture<String> url = new CompletableFuture<>();
		Thread drain = new Thread(() -> {
			try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
				String line;
				while ((line = r.readLine()) != null) {
					synchronized (tail) {
						tail.addLast(line);
						if (tail.size() > 40) tail.removeFirst();
					}
					if (!url.isDone()) {
						Matcher m = LISTENING.matcher(line);
						if (m.find()) url.complete(m.group(1));
					}
				}
			}
			catch (IOException e) {
				// process ended
			}
			url.completeExceptionally(new IOException("daemon exited before listening"));
		}, "sparsecell-daemon-output");
		drain.setDaemon(true);
		drain.start();
		try {
			return new LocalDaemon(p, url.get(timeout.toMillis(), TimeUnit.MILLISECONDS), tail);
		}
		catch (InterruptedException | ExecutionException | TimeoutException e) {
			p.destroyForcibly();
			if (e instanceof InterruptedException) Thread.currentThread().interrupt();
			String out;
			synchronized (tail) {
				out = String.join("\n", tail);
			}
			throw new IOException("daemon " + command + " did not start: " + (e instanceof TimeoutException ? "no URL within " + timeout : e.getMessage()) + "\n" + out);
		}
	}

	public String url() {
		return url;
	}

	public Process process() {
		return process;
	}

	public boolean isAlive() {
		return process.isAlive();
	}

	/** The last lines the daemon printed. */
	public String outputTail() {
		synchronized (tail) {
			return String.join("\n", tail);
		}
	}

	public void stop() {
		kill();
		try {
			Runtime.getRuntime().removeShutdownHook(hook);
		}
		catch (IllegalStateException e) {
			// JVM already shutting down
		}
	}

	@Override
	public void close() {
		stop();
	}

	private void kill() {
		if (!process.isAlive()) return;
		process.destroy();
		try {
			if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
		}
		catch (InterruptedException e) {
			process.destroyForcibly();
			Thread.currentThread().interrupt();
		}
	}
}
