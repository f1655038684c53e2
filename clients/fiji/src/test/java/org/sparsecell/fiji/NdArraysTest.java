package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.sparsecell.fiji.imaging.NdArrays;
import org.sparsecell.fiji.protocol.Protocol.NdArray;
import org.sparsecell.fiji.rpc.RpcClient;

import com.google.gson.JsonObject;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.ByteProcessor;
import ij.process.ColorProcessor;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.ShortProcessor;

/** ImagePlus / ImageProcessor ↔ NdArray round trips, and the wire fixtures' arrays decoded. */
class NdArraysTest {
	static final Random RND = new Random(7);

	static ImageProcessor random(String kind, int w, int h) {
		switch (kind) {
			case "8": { ByteProcessor ip = new ByteProcessor(w, h); for (int i = 0; i < w * h; i++) ip.set(i, RND.nextInt(256)); return ip; }
			case "16": { ShortProcessor ip = new ShortProcessor(w, h); for (int i = 0; i < w * h; i++) ip.set(i, RND.nextInt(65536)); return ip; }
			default: { FloatProcessor ip = new FloatProcessor(w, h); for (int i = 0; i < w * h; i++) ip.setf(i, (float) RND.nextGaussian() * 1000f); return ip; }
		}
	}

	@Test
	void planesRoundTripFor8_16_32BitRawAndDeflate() {
		for (String kind : new String[] { "8", "16", "32" }) {
			for (boolean deflate : new boolean[] { false, true }) {
				ImageProcessor ip = random(kind, 13, 7);
				NdArray a = NdArrays.fromProcessor(ip, deflate);
				assertArrayEquals(new int[] { 7, 13 }, a.shape);
				assertEquals(kind.equals("8") ? "uint8" : kind.equals("16") ? "uint16" : "float32", a.dtype);
				assertEquals(deflate ? "deflate" : null, a.encoding);
				NdArray wire = RpcClient.GSON.fromJson(RpcClient.GSON.toJson(a), NdArray.class);
				ImageProcessor back = NdArrays.toProcessor(wire);
				assertEquals(ip.getClass(), back.getClass());
				assertEquals(ip.getWidth(), back.getWidth());
				for (int i = 0; i < 13 * 7; i++) assertEquals(ip.getf(i), back.getf(i), 0.0, kind + " pixel " + i);
			}
		}
	}

	@Test
	void littleEndianBytesAreExact() {
		ShortProcessor ip = new ShortProcessor(2, 1);
		ip.set(0, 0x0102);
		ip.set(1, 0xfffe);
		assertArrayEquals(new byte[] { 0x02, 0x01, (byte) 0xfe, (byte) 0xff }, NdArrays.bytes(NdArrays.fromProcessor(ip, false)));
		FloatProcessor fp = new FloatProcessor(1, 1, new float[] { 1.0f });
		assertArrayEquals(new byte[] { 0, 0, (byte) 0x80, 0x3f }, NdArrays.bytes(NdArrays.fromProcessor(fp, true)));
	}

	@Test
	void stacksBecomeZYXAndBack() {
		for (String kind : new String[] { "8", "16", "32" }) {
			ImageStack st = new ImageStack(9, 5);
			for (int z = 0; z < 4; z++) st.addSlice(random(kind, 9, 5));
			ImagePlus imp = new ImagePlus("stack", st);
			assertEquals("ZYX", NdArrays.axesOf(imp));
			NdArray a = NdArrays.fromImagePlus(imp, true);
			assertArrayEquals(new int[] { 4, 5, 9 }, a.shape);
			ImagePlus back = NdArrays.toImagePlus(a, "back");
			assertEquals(4, back.getStackSize());
			assertEquals(imp.getBitDepth(), back.getBitDepth());
			for (int z = 1; z <= 4; z++) {
				ImageProcessor p = st.getProcessor(z), q = back.getStack().getProcessor(z);
				for (int i = 0; i < 45; i++) assertEquals(p.getf(i), q.getf(i), 0.0);
			}
		}
	}

	@Test
	void timeSeriesAndHyperstacks() {
		ImageStack st = new ImageStack(4, 3);
		for (int i = 0; i < 6; i++) st.addSlice(random("8", 4, 3));
		ImagePlus t = new ImagePlus("t", st);
		t.setDimensions(1, 1, 6);
		assertEquals("TYX", NdArrays.axesOf(t));
		ImagePlus czt = new ImagePlus("czt", st.duplicate());
		czt.setDimensions(2, 3, 1);
		czt.setOpenAsHyperStack(true);
		czt.setPosition(2, 1, 1);
		NdArray a = NdArrays.fromImagePlus(czt, false);
		assertArrayEquals(new int[] { 3, 3, 4 }, a.shape, "current channel, all z");
		assertEquals("ZYX", NdArrays.axesOf(czt));
		ImageProcessor z2 = NdArrays.toImagePlus(a, "x").getStack().getProcessor(2);
		ImageProcessor expected = czt.getStack().getProcessor(czt.getStackIndex(2, 2, 1));
		for (int i = 0; i < 12; i++) assertEquals(expected.get(i), z2.get(i));
	}

	@Test
	void rgbIsYXC() {
		ColorProcessor cp = new ColorProcessor(3, 2);
		cp.set(0, 0x123456);
		NdArray a = NdArrays.fromImagePlus(new ImagePlus("rgb", cp), false);
		assertArrayEquals(new int[] { 2, 3, 3 }, a.shape);
		assertEquals("YXC", NdArrays.axesOf(new ImagePlus("rgb", cp)));
		byte[] b = NdArrays.bytes(a);
		assertEquals(0x12, b[0]);
		assertEquals(0x34, b[1]);
		assertEquals(0x56, b[2]);
		assertEquals(0x123456, NdArrays.toProcessor(a).get(0) & 0xffffff);
	}

	@Test
	void int32LabelsBecome16BitOr32Bit() {
		NdArray small = NdArrays.fromInts(new int[] { 0, 1, 2, 65535 }, new int[] { 2, 2 }, "int32", true);
		assertTrue(NdArrays.toProcessor(small) instanceof ShortProcessor);
		assertEquals(65535, NdArrays.toProcessor(small).get(3));
		NdArray big = NdArrays.fromInts(new int[] { 0, 1, 2, 70000 }, new int[] { 2, 2 }, "int32", false);
		assertTrue(NdArrays.toProcessor(big) instanceof FloatProcessor);
		assertEquals(70000f, NdArrays.toProcessor(big).getf(3));
		NdArray neg = NdArrays.fromInts(new int[] { -1, 0, 5, 2 }, new int[] { 4 }, "int16", false);
		assertArrayEquals(new int[] { -1, 0, 5, 2 }, NdArrays.toInts(neg));
	}

	@Test
	void badArraysAreRejected() {
		NdArray a = NdArrays.fromInts(new int[] { 1, 2, 3 }, new int[] { 3 }, "uint8", false);
		a.shape = new int[] { 2, 2 };
		assertThrows(IllegalArgumentException.class, () -> NdArrays.toInts(a));
		assertThrows(IllegalArgumentException.class, () -> NdArrays.fromInts(new int[] { 1 }, new int[] { 2 }, "int32", false));
		NdArray d = NdArrays.fromInts(new int[] { 1, 2, 3, 4 }, new int[] { 4 }, "uint8", true);
		d.data = d.data.substring(0, 4);
		assertThrows(IllegalArgumentException.class, () -> NdArrays.toInts(d));
	}

	/** The fixtures made by the TS encoder decode here: labels.update's offset1 uint16 = labels.get's signed int32 + 1. */
	@Test
	void wireFixturesDecode() {
		File ex = new File(ProtocolSchemaTest.protocolDir(), "examples");
		JsonObject upd = ProtocolSchemaTest.readJson(new File(ex, "labels.update.request.json"));
		JsonObject get = ProtocolSchemaTest.readJson(new File(ex, "labels.get.response.json"));
		NdArray offset1 = RpcClient.GSON.fromJson(upd.getAsJsonObject("params").get("labels"), NdArray.class);
		NdArray signed = RpcClient.GSON.fromJson(get.getAsJsonObject("result").get("labels"), NdArray.class);
		assertEquals("deflate", signed.encoding);
		int[] o = NdArrays.toInts(offset1), s = NdArrays.toInts(signed);
		assertEquals(16, o.length);
		for (int i = 0; i < 16; i++) assertEquals(o[i] - 1, s[i]);
		JsonObject img = ProtocolSchemaTest.readJson(new File(ex, "image.add.request.json"));
		NdArray im = RpcClient.GSON.fromJson(img.getAsJsonObject("params").get("image"), NdArray.class);
		assertEquals(16, NdArrays.toProcessor(im).getPixelCount());
	}
}
