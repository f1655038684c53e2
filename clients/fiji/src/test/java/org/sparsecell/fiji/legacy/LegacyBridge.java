package org.sparsecell.fiji.legacy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;

import org.scijava.Context;
import org.scijava.command.CommandInfo;
import org.scijava.command.CommandService;
import org.scijava.module.Module;
import org.scijava.module.ModuleService;
import org.scijava.thread.ThreadService;

import ij.IJ;
import ij.ImageJ;
import ij.Menus;
import net.imagej.patcher.LegacyHooks;
import net.imagej.patcher.LegacyInjector;

/**
 * A stand-in for imagej-legacy's command bridge (net.imagej:imagej-legacy is not on Maven Central; ImageJ 1.x and
 * ij1-patcher are). Like imagej-legacy it
 * <ul>
 * <li>relies on ImageJ 1.x being patched by ij1-patcher before any ij class loads (its Java agent, {@code
 * -javaagent:ij1-patcher.jar=init} in the Failsafe argLine), so that
 * {@code IJ.runPlugIn} asks the installed {@link LegacyHooks} first and {@code Macro.getOptions()} also answers on
 * threads started by a macro thread ({@link LegacyHooks#getThreadAncestors()});</li>
 * <li>puts each SciJava command of the sparsecell plugin into ImageJ 1.x's command table under its menu label, with
 * the command's identifier ({@code command:org.sparsecell…}) as the "class", and into Plugins › sparsecell;</li>
 * <li>runs the command through SciJava's ModuleService when ImageJ 1.x runs that "class", with pre- and
 * postprocessing; {@link LegacyProcessors} then fill the inputs from the macro options, the current image, and
 * record the command for the Macro Recorder.</li>
 * </ul>
 * Not done here (imagej-legacy does it): the ImageJ2 data model (Dataset/ImageDisplay sync) and the Swing dialogs
 * (scijava-ui-swing, also not on Central): a command run from the menu uses its remembered values, without a dialog.
 */
public final class LegacyBridge {
	private static volatile LegacyBridge active;

	public final Context context;
	public final ImageJ imagej;
	/** Plugins › sparsecell in ImageJ's menu bar. */
	public java.awt.Menu menu;
	private final Map<String, CommandInfo> byIdentifier = new ConcurrentHashMap<>();
	/** Commands that ended cancelled (a failure: SparsecellCommand cancels with the reason). */
	public final List<String> failures = Collections.synchronizedList(new ArrayList<>());
	/** Menu labels of the commands run through the bridge, in order. */
	public final List<String> ran = Collections.synchronizedList(new ArrayList<>());
	/** The last module run for each menu label (its command holds the results). */
	private final Map<String, Module> last = new ConcurrentHashMap<>();
	/** How many commands have ended (for callers that started one on another thread). */
	public final java.util.concurrent.atomic.AtomicInteger finished = new java.util.concurrent.atomic.AtomicInteger();

	private LegacyBridge(Context context, ImageJ imagej) {
		this.context = context;
		this.imagej = imagej;
	}

	/** The bridge when one is running (the processors do nothing otherwise, e.g. in the headless unit tests). */
	public static LegacyBridge active() {
		return active;
	}

	/**
	 * Patch ImageJ 1.x, start it (its main window: this needs a display) and a SciJava context, and register the
	 * sparsecell commands. {@link LegacyInjector#preinit()} fails when ImageJ 1.x was loaded unpatched.
	 */
	public static synchronized LegacyBridge start() {
		if (active != null) return active;
		LegacyInjector.preinit();
		Context ctx = new Context();
		ImageJ ij = new ImageJ(ImageJ.EMBEDDED);
		LegacyBridge b = new LegacyBridge(ctx, ij);
		LegacyInjector.installHooks(LegacyBridge.class.getClassLoader(), b.new Hooks());
		b.register();
		active = b;
		return b;
	}

	public synchronized void stop() {
		active = null;
		for (int id : ij.WindowManager.getIDList() == null ? new int[0] : ij.WindowManager.getIDList()) {
			ij.ImagePlus imp = ij.WindowManager.getImage(id);
			if (imp != null) {
				imp.changes = false;
				imp.close();
			}
		}
		imagej.dispose();
		context.dispose();
	}

	/** What imagej-legacy's IJ1Helper.addMenuItems does for each command: the command table and the menu. */
	private void register() {
		@SuppressWarnings("unchecked")
		Hashtable<String, String> table = Menus.getCommands();
		for (CommandInfo info : context.service(CommandService.class).getCommands()) {
			org.scijava.MenuPath path = info.getMenuPath();
			if (path == null || path.size() != 3 || !"Plugins".equals(path.get(0).getName()) || !"sparsecell".equals(path.get(1).getName())) continue;
			String label = info.getMenuPath().getLeaf().getName();
			byIdentifier.put(info.getIdentifier(), info);
			if (table.containsKey(label)) continue;
			table.put(label, info.getIdentifier());
			if (menu == null) {
				menu = new java.awt.Menu("sparsecell");
				Menus.getImageJMenu("Plugins").add(menu);
			}
			java.awt.MenuItem item = new java.awt.MenuItem(label);
			item.addActionListener(imagej);
			menu.add(item);
		}
	}

	/** The menu labels registered in ImageJ 1.x's command table, with their command identifiers. */
	public Map<String, String> registered() {
		@SuppressWarnings("unchecked")
		Hashtable<String, String> table = Menus.getCommands();
		Map<String, String> out = new java.util.TreeMap<>();
		for (Map.Entry<String, String> e : table.entrySet()) {
			if (byIdentifier.containsKey(e.getValue())) out.put(e.getKey(), e.getValue());
		}
		return out;
	}

	/** The command object of the last run of a menu label, or null. */
	public Object lastCommand(String label) {
		Module m = last.get(label);
		return m instanceof org.scijava.command.CommandModule ? ((org.scijava.command.CommandModule) m).getCommand() : null;
	}

	private Object run(CommandInfo info) {
		String label = info.getMenuPath().getLeaf().getName();
		ran.add(label);
		try {
			Future<Module> f = context.service(ModuleService.class).run(info, true);
			Module m = f.get();
			last.put(label, m);
			if (m instanceof org.scijava.command.CommandModule && ((org.scijava.command.CommandModule) m).isCanceled()) {
				String why = ((org.scijava.command.CommandModule) m).getCancelReason();
				failures.add(label + ": " + why);
				// As a failing ImageJ 1.x command does: the macro stops with the reason.
				if (IJ.isMacro()) {
					IJ.log("sparsecell macro stopped: " + why);
					ij.Macro.abort();
				}
			}
			return m;
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new RuntimeException(e);
		}
		catch (java.util.concurrent.ExecutionException e) {
			failures.add(label + ": " + e.getCause());
			throw new RuntimeException(e.getCause());
		}
		finally {
			finished.incrementAndGet();
		}
	}

	/** The ij1-patcher hooks: route "command:…" classes to SciJava, thread ancestry for Macro.getOptions(). */
	final class Hooks extends LegacyHooks {
		@Override
		public boolean isLegacyMode() {
			return true; // ImageJ 1.x's own windows are the user interface, as in Fiji
		}

		@Override
		public Object interceptRunPlugIn(String className, String arg) {
			CommandInfo info = byIdentifier.get(className);
			return info == null ? null : run(info);
		}

		@Override
		public Iterable<Thread> getThreadAncestors() {
			ThreadService ts = context.getService(ThreadService.class);
			if (ts == null) return null;
			Thread current = Thread.currentThread();
			return () -> new Iterator<Thread>() {
				final Set<Thread> seen = new HashSet<>(Collections.singleton(current));
				Thread next = ts.getParent(current);

				@Override
				public boolean hasNext() {
					return next != null && !seen.contains(next);
				}

				@Override
				public Thread next() {
					Thread t = next;
					seen.add(t);
					next = ts.getParent(t);
					return t;
				}
			};
		}
	}
}
