package org.sparsecell.fiji.legacy;

import java.util.Collections;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;

import org.scijava.ItemIO;
import org.scijava.ItemVisibility;
import org.scijava.Priority;
import org.scijava.convert.AbstractConverter;
import org.scijava.convert.ConvertService;
import org.scijava.convert.Converter;
import org.scijava.module.Module;
import org.scijava.module.ModuleItem;
import org.scijava.module.process.AbstractPostprocessorPlugin;
import org.scijava.module.process.AbstractPreprocessorPlugin;
import org.scijava.module.process.PostprocessorPlugin;
import org.scijava.module.process.PreprocessorPlugin;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;
import org.scijava.widget.TextWidget;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.plugin.frame.Recorder;

/**
 * The module processors of the {@link LegacyBridge}, with the behaviour of imagej-legacy's MacroPreprocessor,
 * ActiveImagePlusPreprocessor, MacroRecorderPreprocessor/Postprocessor, StringToImagePlusConverter and its display of
 * ImagePlus outputs. Each does nothing unless a bridge is running, so the headless unit tests are unaffected.
 */
public final class LegacyProcessors {
	private LegacyProcessors() {}

	/** Inputs already resolved when recording began (services, the current image): not recorded. */
	private static final Map<Module, Set<String>> PRE_RESOLVED = Collections.synchronizedMap(new WeakHashMap<>());

	/** In a macro, each input whose name (lower case) is a key of the run() options takes that value. */
	@Plugin(type = PreprocessorPlugin.class, priority = 2 * Priority.VERY_HIGH)
	public static class MacroOptions extends AbstractPreprocessorPlugin {
		@Parameter
		private ConvertService convert;

		@Override
		public void process(Module module) {
			if (LegacyBridge.active() == null || !IJ.isMacro()) return;
			String options = Macro.getOptions();
			if (options == null) return;
			for (ModuleItem<?> input : module.getInfo().inputs()) {
				String value = Macro.getValue(options, input.getName(), null);
				if (value == null || !convert.supports(value, input.getType())) continue;
				module.setInput(input.getName(), convert.convert(value, input.getType()));
				module.resolveInput(input.getName());
			}
		}
	}

	/** The one ImagePlus input gets the current image (as an ImageJ 1.x plugin works on it). */
	@Plugin(type = PreprocessorPlugin.class, priority = Priority.VERY_HIGH + 1)
	public static class ActiveImage extends AbstractPreprocessorPlugin {
		@Override
		public void process(Module module) {
			if (LegacyBridge.active() == null) return;
			ImagePlus imp = WindowManager.getCurrentImage();
			if (imp == null) return;
			String single = null;
			for (ModuleItem<?> input : module.getInfo().inputs()) {
				if (!ImagePlus.class.equals(input.getType()) || module.isInputResolved(input.getName())) continue;
				if (single != null) return; // two image inputs: the user chooses
				single = input.getName();
			}
			if (single == null) return;
			module.setInput(single, imp);
			module.resolveInput(single);
		}
	}

	/**
	 * Outside macros, Fiji asks for a command's one File input with a file chooser before anything else; the tests
	 * answer it through {@link #chosenFile} (there is no Swing UI here: scijava-ui-swing is not on Maven Central).
	 */
	@Plugin(type = PreprocessorPlugin.class, priority = Priority.VERY_HIGH)
	public static class FileChooserAnswer extends AbstractPreprocessorPlugin {
		@Override
		public void process(Module module) {
			java.io.File answer = chosenFile;
			if (LegacyBridge.active() == null || IJ.isMacro() || answer == null) return;
			for (ModuleItem<?> input : module.getInfo().inputs()) {
				if (java.io.File.class.equals(input.getType()) && input.isRequired() && !module.isInputResolved(input.getName())) {
					module.setInput(input.getName(), answer);
					module.resolveInput(input.getName());
				}
			}
		}
	}

	/** The file the user picks in the next file chooser (null: none is answered). */
	public static volatile java.io.File chosenFile;

	/** Outside macros, with the Recorder open: start the command's line and remember what is already resolved. */
	@Plugin(type = PreprocessorPlugin.class, priority = Priority.VERY_HIGH + 1)
	public static class RecorderStart extends AbstractPreprocessorPlugin {
		@Override
		public void process(Module module) {
			if (LegacyBridge.active() == null || IJ.isMacro() || !Recorder.record) return;
			Recorder.setCommand(module.getInfo().getMenuPath().getLeaf().getName());
			Set<String> resolved = new HashSet<>();
			for (ModuleItem<?> input : module.getInfo().inputs()) {
				if (module.isInputResolved(input.getName())) resolved.add(input.getName());
			}
			PRE_RESOLVED.put(module, resolved);
		}
	}

	/** Record each remaining visible, non-password input as key=value and save the run(...) line. */
	@Plugin(type = PostprocessorPlugin.class, priority = Priority.VERY_LOW)
	public static class RecorderFinish extends AbstractPostprocessorPlugin {
		@Override
		public void process(Module module) {
			Set<String> skip = PRE_RESOLVED.remove(module);
			if (LegacyBridge.active() == null || IJ.isMacro() || !Recorder.record || skip == null) return;
			for (ModuleItem<?> input : module.getInfo().inputs()) {
				if (skip.contains(input.getName()) || input.getVisibility() == ItemVisibility.INVISIBLE || input.getVisibility() == ItemVisibility.MESSAGE) continue;
				String style = input.getWidgetStyle();
				if (style != null && style.contains(TextWidget.PASSWORD_STYLE)) continue;
				Object value = module.getInput(input.getName());
				if (value == null) continue;
				String text = value instanceof ImagePlus ? ((ImagePlus) value).getTitle() : value.toString();
				Recorder.recordOption(input.getName(), text.replace("\\", "\\\\").replace("\"", "\\\""));
			}
			Recorder.saveCommand();
		}
	}

	/** ImagePlus outputs are shown, as Fiji displays a command's image outputs. */
	@Plugin(type = PostprocessorPlugin.class, priority = Priority.LOW)
	public static class ShowImages extends AbstractPostprocessorPlugin {
		@Override
		public void process(Module module) {
			if (LegacyBridge.active() == null) return;
			for (ModuleItem<?> output : module.getInfo().outputs()) {
				if (output.getIOType() == ItemIO.OUTPUT && module.getOutput(output.getName()) instanceof ImagePlus) {
					ImagePlus imp = (ImagePlus) module.getOutput(output.getName());
					if (imp.getWindow() == null) imp.show();
				}
			}
		}
	}

	/** "imp=[title]" (or an image ID) in macro options names an open image. */
	@Plugin(type = Converter.class)
	public static class TitleToImagePlus extends AbstractConverter<String, ImagePlus> {
		@Override
		public boolean canConvert(Object src, Class<?> dest) {
			return src instanceof String && ImagePlus.class.equals(dest) && find((String) src) != null;
		}

		@Override
		public <T> T convert(Object src, Class<T> dest) {
			return dest.cast(find((String) src));
		}

		private static ImagePlus find(String s) {
			if (LegacyBridge.active() == null) return null;
			try {
				ImagePlus byId = WindowManager.getImage(Integer.parseInt(s.trim()));
				if (byId != null) return byId;
			}
			catch (NumberFormatException e) {
				// a title
			}
			return WindowManager.getImage(s);
		}

		@Override
		public Class<ImagePlus> getOutputType() {
			return ImagePlus.class;
		}

		@Override
		public Class<String> getInputType() {
			return String.class;
		}
	}
}
