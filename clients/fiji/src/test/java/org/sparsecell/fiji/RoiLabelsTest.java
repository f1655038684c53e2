package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.sparsecell.fiji.imaging.RoiLabels;

import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.OvalRoi;
import ij.gui.Roi;
import ij.process.ByteProcessor;

/** ROIs → offset1 label planes, background rules, plane filtering and changed boxes. */
class RoiLabelsTest {

	@Test
	void eachRoiIsAnObjectBackgroundUnderneathRestUnlabeled() {
		List<Roi> rois = new ArrayList<>();
		rois.add(new Roi(0, 0, 4, 4));                    // object 1 → 2
		Roi bg = new Roi(2, 2, 6, 6);
		bg.setName("Background 1");
		rois.add(bg);                                     // background → 1, painted under objects
		rois.add(new Roi(6, 6, 2, 2));                    // object 2 → 3
		Roi coloured = new Roi(8, 0, 2, 2);
		coloured.setStrokeColor(Color.MAGENTA);
		rois.add(coloured);
		Roi pred = new Roi(0, 8, 2, 2);
		pred.setName(RoiLabels.PREDICTION_PREFIX + "3");
		rois.add(pred);
		ImagePlus imp = new ImagePlus("x", new ByteProcessor(10, 10));
		int[] v = RoiLabels.rasterize(RoiLabels.forPlane(rois, imp, 0), 10, 10, Color.MAGENTA);
		assertEquals(2, v[0]);
		assertEquals(2, v[3 * 10 + 3], "object over background");
		assertEquals(1, v[4 * 10 + 4]);
		assertEquals(3, v[7 * 10 + 7]);
		assertEquals(1, v[0 * 10 + 8], "magenta ROI is background");
		assertEquals(0, v[9 * 10 + 0], "predictions are not annotations");
		assertEquals(0, v[9 * 10 + 9]);
		// the same magenta ROI is an object without a background colour
		int[] w = RoiLabels.rasterize(RoiLabels.forPlane(rois, imp, 0), 10, 10, null);
		assertEquals(4, w[8]);
	}

	@Test
	void ovalsAreRasterizedByMask() {
		List<Roi> rois = List.of(new OvalRoi(0, 0, 10, 10));
		int[] v = RoiLabels.rasterize(rois, 10, 10, null);
		assertEquals(0, v[0], "corner outside the oval");
		assertEquals(2, v[5 * 10 + 5]);
	}

	@Test
	void roisOfOtherSlicesAreLeftOut() {
		ImageStack st = new ImageStack(8, 8);
		for (int i = 0; i < 3; i++) st.addSlice(new ByteProcessor(8, 8));
		ImagePlus imp = new ImagePlus("s", st);
		Roi all = new Roi(0, 0, 2, 2);
		Roi on2 = new Roi(4, 4, 2, 2);
		on2.setPosition(2);
		Roi on3 = new Roi(6, 6, 2, 2);
		on3.setPosition(3);
		List<Roi> rois = List.of(all, on2, on3);
		assertEquals(2, RoiLabels.forPlane(rois, imp, 1).size());
		assertEquals(1, RoiLabels.forPlane(rois, imp, 0).size());
		imp.setSlice(3);
		assertEquals(2, RoiLabels.currentPlane(imp));
	}

	@Test
	void changedBoxAndCrop() {
		int[] a = new int[6 * 5], b = a.clone();
		assertNull(RoiLabels.changedBox(a, b, 6, 5));
		b[1 * 6 + 2] = 3;
		b[3 * 6 + 4] = 1;
		assertArrayEquals(new int[] { 1, 2, 4, 5 }, RoiLabels.changedBox(a, b, 6, 5));
		int[] c = RoiLabels.crop(b, 6, new int[] { 1, 2, 4, 5 });
		assertArrayEquals(new int[] { 3, 0, 0, 0, 0, 0, 0, 0, 1 }, c);
	}

	@Test
	void labelImagesMustBeOffset1() {
		ij.process.FloatProcessor fp = new ij.process.FloatProcessor(2, 1, new float[] { -1, 2 });
		assertThrows(IllegalArgumentException.class, () -> RoiLabels.fromLabelImage(fp));
		assertArrayEquals(new int[] { 0, 3 }, RoiLabels.fromLabelImage(new ByteProcessor(2, 1, new byte[] { 0, 3 })));
	}
}
