package org.sparsecell.fiji.tools;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.Robot;
import java.awt.image.BufferedImage;
import java.io.File;
import java.lang.reflect.Field;
import java.util.List;

import javax.imageio.ImageIO;

import org.scijava.Context;
import org.scijava.command.CommandInfo;
import org.scijava.command.CommandService;
import org.scijava.module.ModuleItem;
import org.sparsecell.fiji.LiveMode;
import org.sparsecell.fiji.Sparsecell;
import org.sparsecell.fiji.TestDaemon;
import org.sparsecell.fiji.commands.Train;
import org.sparsecell.fiji.imaging.RoiIO;
import org.sparsecell.fiji.protocol.Protocol.ModelPredictResult;
import org.sparsecell.fiji.protocol.Protocol.SessionCreateParams;
import org.sparsecell.fiji.rpc.RpcClient;


import ij.IJ;
import ij.ImagePlus;
import ij.gui.GenericDialog;
import ij.gui.ImageWindow;

/**
 * Makes docs/screenshot.png under Xvfb (see docs/make-screenshot.sh): the "sparsecell Train" dialog, laid out from
 * the command's own @Parameters as Fiji lays out a SciJava dialog, beside a DSB2018 test image (held out from the
 * starter model's training) with the objects that the built-in nuclei model (models/nuclei-stardist.scm, session.create
 * {starter: "nuclei"}) predicts before any training (cyan), from a real daemon. Not a test: a main in the test sources
 * so it can reuse the test daemon helper.
 */
public final class Screenshot {
	/** A 256x256 image of dsbSplit(names, 0, 50).test (server/metrics/split.ts), 49 nuclei in its mask. */
	static final String IMAGE = "7b5987a24dd57325e82812371b3f4df7edc528e0526754ba94cf3a1ea4df25d2";

	public static void main(String[] args) throws Exception {
		File out = new File(args.length > 0 ? args[0] : "docs/screenshot.png");
		Sparsecell s = null;
		int code = 0;
		try {
			File data = new File(TestDaemon.repo(), "../shared/data/dsb2018-train");
			File tif = new File(data, "images/" + IMAGE + ".tif");
			if (!tif.isFile()) throw new IllegalStateException("the DSB2018 data are missing: " + tif + " (see ../shared/data/README.md)");
			String url = TestDaemon.url();
			SessionCreateParams p = new SessionCreateParams();
			p.name = "screenshot";
			p.family = "stardist";
			p.starter = "nuclei";
			String sid;
			try (RpcClient c = RpcClient.connect(url, TestDaemon.TOKEN)) {
				sid = c.sessionCreate(p).sessionId;
			}
			s = Sparsecell.connect(url, TestDaemon.TOKEN, sid, null, null, null, null);
			ImagePlus imp = IJ.openImage(tif.getPath());
			imp.setTitle("DSB2018 test image");
			ImagePlus mask = IJ.openImage(new File(data, "masks/" + IMAGE + ".tif").getPath());
			ModelPredictResult r = s.predict(imp, 0, null, null, null, null); // the model's own thresholds
			RoiIO.replaceOverlayPredictions(imp, RoiIO.toRois(r.polygons, imp, 0, LiveMode.PREDICTION_COLOUR));
			System.out.println("predicted " + r.polygons.size() + " objects (the mask has " + (int) mask.getStatistics().max + " labels)");

			Context ctx = new Context(CommandService.class);
			CommandInfo info = ctx.service(CommandService.class).getCommand(Train.class);
			GenericDialog gd = dialogFor(info);
			gd.setModal(false);
			gd.setLocation(0, 0);
			new Thread(gd::showDialog).start();
			Thread.sleep(1500);
			Rectangle a = gd.getBounds();

			imp.show();
			ImageWindow win = imp.getWindow();
			win.setLocation(a.width + 40, 0);
			IJ.run(imp, "Set... ", "zoom=200 x=128 y=128");
			Thread.sleep(1500);
			Rectangle b = win.getBounds();

			Robot robot = new Robot();
			BufferedImage da = robot.createScreenCapture(a), ib = robot.createScreenCapture(b);
			int bar = 22, pad = 12;
			int w = a.width + b.width + 3 * pad, h = Math.max(a.height, b.height) + bar + 2 * pad;
			BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
			Graphics2D g = img.createGraphics();
			g.setColor(new Color(90, 90, 96));
			g.fillRect(0, 0, w, h);
			frame(g, da, pad, pad, bar, info.getLabel());
			frame(g, ib, 2 * pad + a.width, pad, bar, imp.getTitle() + " (cyan: predicted by the built-in nuclei model)");
			g.dispose();
			out.getAbsoluteFile().getParentFile().mkdirs();
			ImageIO.write(img, "png", out);
			System.out.println("wrote " + out + " " + w + "x" + h);
			ctx.dispose();
		}
		catch (Throwable t) {
			t.printStackTrace();
			code = 1;
		}
		finally {
			if (s != null) Sparsecell.disconnect();
			TestDaemon.stop();
			System.exit(code);
		}
	}

	/** A GenericDialog with one field per input of the command, labelled and defaulted as its @Parameters say. */
	static GenericDialog dialogFor(CommandInfo info) throws Exception {
		GenericDialog gd = new GenericDialog(info.getLabel());
		Object defaults = info.loadDelegateClass().getDeclaredConstructor().newInstance();
		for (ModuleItem<?> item : info.inputs()) {
			Field f;
			try {
				f = info.loadDelegateClass().getField(item.getName());
			}
			catch (NoSuchFieldException e) {
				continue; // services and the context, which Fiji fills in
			}
			Object v = f.get(defaults);
			String label = item.getLabel();
			if (item.getChoices() != null && !item.getChoices().isEmpty()) {
				List<String> choices = item.getChoices().stream().map(String::valueOf).collect(java.util.stream.Collectors.toList());
				gd.addChoice(label, choices.toArray(new String[0]), String.valueOf(v));
			}
			else if (item.getType() == boolean.class) gd.addCheckbox(label, (Boolean) v);
			else if (item.getType() == int.class) gd.addNumericField(label, (Integer) v, 0);
			else if (item.getType() == double.class) gd.addNumericField(label, (Double) v, 2);
			else gd.addStringField(label, String.valueOf(v), 18);
		}
		gd.addMessage("Esc or Plugins > sparsecell > sparsecell Cancel stops training.");
		return gd;
	}

	/** A captured window under a drawn title bar (Xvfb has no window manager to draw one). */
	static void frame(Graphics2D g, BufferedImage win, int x, int y, int bar, String title) {
		g.setColor(new Color(220, 222, 228));
		g.fillRect(x, y, win.getWidth(), bar);
		g.setColor(Color.DARK_GRAY);
		g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 12));
		g.drawString(title, x + 8, y + bar - 7);
		g.drawImage(win, x, y + bar, null);
	}
}
