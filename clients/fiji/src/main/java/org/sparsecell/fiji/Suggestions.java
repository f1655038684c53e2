package org.sparsecell.fiji;

import java.awt.Color;
import java.awt.Rectangle;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

import ij.ImagePlus;
import ij.gui.ImageCanvas;
import ij.gui.Overlay;
import ij.gui.Roi;

import org.sparsecell.fiji.imaging.RoiLabels;
import org.sparsecell.fiji.protocol.Protocol.Suggestion;

/**
 * What to annotate next on one image: the suggestions of model.suggest (or of a live suggestions.updated), drawn as
 * an Overlay of rectangles named sparsecell-suggestion-N (reason and score in the name, objects magenta, areas cyan),
 * and the position that "Go to next suggestion" moves along, best first.
 */
public final class Suggestions {
	public static final Color OBJECT_COLOUR = Color.MAGENTA;
	public static final Color AREA_COLOUR = Color.CYAN;

	public final ImagePlus imp;
	private final List<Suggestion> list;
	private int index = -1;

	public Suggestions(ImagePlus imp, List<Suggestion> list) {
		this.imp = imp;
		this.list = Collections.unmodifiableList(new ArrayList<>(list));
	}

	public List<Suggestion> list() {
		return list;
	}

	/** 0-based index of the suggestion shown last, -1 before the first. */
	public synchronized int index() {
		return index;
	}

	/** Replace the image's suggestion ROIs with these (other overlay ROIs stay). */
	public void draw() {
		Overlay ov = imp.getOverlay();
		if (ov == null) ov = new Overlay();
		for (Roi r : ov.toArray()) if (RoiLabels.isSuggestion(r)) ov.remove(r);
		for (int i = 0; i < list.size(); i++) {
			Suggestion s = list.get(i);
			Roi r = new Roi(s.region[1], s.region[0], s.region[3] - s.region[1], s.region[2] - s.region[0]);
			r.setName(String.format(Locale.ROOT, "%s%d %s %.2f", RoiLabels.SUGGESTION_PREFIX, i + 1, s.reason, s.score));
			r.setStrokeColor("object".equals(s.kind) ? OBJECT_COLOUR : AREA_COLOUR);
			if (s.z != null && imp.getStackSize() > 1) r.setPosition(s.z + 1);
			ov.add(r);
		}
		ov.drawNames(true);
		imp.setOverlay(ov);
	}

	/** Move to the next suggestion (after the last, the first again): show its plane, select it, centre the view. */
	public synchronized Suggestion next() {
		if (list.isEmpty()) return null;
		index = (index + 1) % list.size();
		Suggestion s = list.get(index);
		if (s.z != null && imp.getStackSize() > 1) imp.setSlice(s.z + 1);
		int x0 = s.region[1], y0 = s.region[0], w = s.region[3] - x0, h = s.region[2] - y0;
		imp.setRoi(new Roi(x0, y0, w, h));
		ImageCanvas c = imp.getCanvas();
		if (c != null) {
			Rectangle src = c.getSrcRect();
			int nx = Math.max(0, Math.min(imp.getWidth() - src.width, x0 + w / 2 - src.width / 2));
			int ny = Math.max(0, Math.min(imp.getHeight() - src.height, y0 + h / 2 - src.height / 2));
			c.setSourceRect(new Rectangle(nx, ny, src.width, src.height));
			imp.updateAndDraw();
		}
		return s;
	}
}
