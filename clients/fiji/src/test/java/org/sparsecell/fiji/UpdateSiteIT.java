package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The update-site folder that `mvn package` lays out (target/update-site: plugins/ the plugin jar, jars/ what Fiji
 * lacks) is complete: a class loader that sees only that folder and the jars Fiji ships (the `provided`
 * dependencies: ImageJ 1.x, scijava-common, parsington, Gson) finds every command, and Connect and Disconnect run
 * against a real daemon.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UpdateSiteIT {
	static final String[] COMMANDS = { "Connect", "SendLabels", "Train", "Cancel", "Predict", "Live", "ExportModel", "ImportModel", "ExportBioimageio", "Disconnect" };

	static File site() {
		return new File(System.getProperty("sparsecell.updateSite", "target/update-site"));
	}

	static List<File> jars(File dir) {
		File[] files = dir.listFiles((d, n) -> n.endsWith(".jar"));
		return files == null ? new ArrayList<>() : new ArrayList<>(Arrays.asList(files));
	}

	@Test
	void theFolderRunsWithOnlyWhatFijiShips() throws Exception {
		List<File> plugins = jars(new File(site(), "plugins"));
		assertEquals(1, plugins.size(), "plugins/ holds the plugin jar: " + plugins);
		assertEquals(System.getProperty("sparsecell.pluginJar"), plugins.get(0).getName());
		List<File> extra = jars(new File(site(), "jars"));
		List<File> fiji = new ArrayList<>();
		for (String p : Files.readString(new File(System.getProperty("sparsecell.fijiClasspath")).toPath(), StandardCharsets.UTF_8).trim().split(File.pathSeparator))
			fiji.add(new File(p));
		List<String> fijiNames = new ArrayList<>();
		for (File f : fiji) fijiNames.add(f.getName());
		assertTrue(fijiNames.stream().anyMatch(n -> n.startsWith("ij-")) && fijiNames.stream().anyMatch(n -> n.startsWith("scijava-common-")), "Fiji's jars: " + fijiNames);
		for (File f : extra) assertFalse(fijiNames.contains(f.getName()), f.getName() + " is shipped by Fiji: it does not belong in jars/");

		List<URL> urls = new ArrayList<>();
		for (File f : fiji) urls.add(f.toURI().toURL());
		urls.add(plugins.get(0).toURI().toURL());
		for (File f : extra) urls.add(f.toURI().toURL());
		ClassLoader before = Thread.currentThread().getContextClassLoader();
		try (URLClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader())) {
			assertThrows(ClassNotFoundException.class, () -> loader.loadClass(TestDaemon.class.getName()), "the loader sees nothing of the test class path");
			Thread.currentThread().setContextClassLoader(loader); // SciJava finds plugins through it, as in Fiji
			Class<?> contextClass = loader.loadClass("org.scijava.Context");
			Class<?> serviceClass = loader.loadClass("org.scijava.command.CommandService");
			Object context = contextClass.getConstructor(Class[].class).newInstance((Object) new Class<?>[] { serviceClass });
			try {
				Object cs = contextClass.getMethod("service", Class.class).invoke(context, serviceClass);
				for (String c : COMMANDS) {
					Object info = serviceClass.getMethod("getCommand", String.class).invoke(cs, "org.sparsecell.fiji.commands." + c);
					assertNotNull(info, c + " is found in the update-site folder");
				}
				Class<?> connect = loader.loadClass("org.sparsecell.fiji.commands.Connect");
				assertEquals(plugins.get(0).toURI().toURL(), connect.getProtectionDomain().getCodeSource().getLocation());
				assertNotSame(org.sparsecell.fiji.commands.Connect.class, connect);
				Object m = run(serviceClass, cs, "Connect", "url", TestDaemon.url(), "token", TestDaemon.TOKEN, "startLocal", false, "session", "", "name", "update-site", "family", "stardist", "config", "");
				Object command = m.getClass().getMethod("getCommand").invoke(m);
				String sessionId = (String) command.getClass().getField("sessionId").get(command);
				assertNotNull(sessionId, "Connect from the update-site folder opened a session");
				run(serviceClass, cs, "Disconnect");
			}
			finally {
				contextClass.getMethod("dispose").invoke(context);
			}
		}
		finally {
			Thread.currentThread().setContextClassLoader(before);
		}
	}

	/** CommandService.run(name, true, inputs) in the other loader; the module must not be cancelled. */
	static Object run(Class<?> serviceClass, Object cs, String command, Object... inputs) throws Exception {
		Future<?> f = (Future<?>) serviceClass.getMethod("run", String.class, boolean.class, Object[].class).invoke(cs, "org.sparsecell.fiji.commands." + command, true, inputs);
		Object module = f.get(60, TimeUnit.SECONDS);
		boolean cancelled = (Boolean) module.getClass().getMethod("isCanceled").invoke(module);
		assertFalse(cancelled, command + ": " + module.getClass().getMethod("getCancelReason").invoke(module));
		return module;
	}
}
