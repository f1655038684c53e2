package org.sparsecell.fiji.imaging;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Base64;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.ByteProcessor;
import ij.process.ColorProcessor;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.ShortProcessor;

import org.sparsecell.fiji.protocol.Protocol.NdArray;

/**
 * ImagePlus / ImageProcessor ↔ NdArray ({dtype, shape, data: base64 little-endian, encoding: raw|deflate}).
 * 8-bit → uint8, 16-bit → uint16, 32-bit → float32, RGB → uint8 YXC; a stack → ZYX (or TYX for a time series).
 * Hyperstacks with several channels send the current channel. Back: uint8/uint16/float32 keep their type;
 * int16 and int32 become 16-bit when every value fits 0..65535 (label images) and 32-bit otherwise.
 */
public final class NdArrays {
	private NdArrays() {}

	// ---- bytes --------------------------------------------------------------------------------------

	public static int bytesPerElement(String dtype) {
		switch (dtype) {
			case "uint8": return 1;
			case "uint16": case "int16": return 2;
			case "int32": case "float32": return 4;
			default: throw new IllegalArgumentException("unsupported dtype " + dtype);
		}
	}

	public static long elements(int[] shape) {
		long n = 1;
		for (int s : shape) n *= s;
		return n;
	}

	/** The little-endian element bytes (inflated when encoding = deflate), checked against shape × dtype. */
	public static byte[] bytes(NdArray a) {
		byte[] raw = Base64.getDecoder().decode(a.data);
		if ("deflate".equals(a.encoding)) raw = inflate(raw);
		long expected = elements(a.shape) * bytesPerElement(a.dtype);
		if (raw.length != expected) throw new IllegalArgumentException("NdArray " + Arrays.toString(a.shape) + " " + a.dtype + " needs " + expected + " bytes, has " + raw.length);
		return raw;
	}

	public static NdArray of(String dtype, int[] shape, byte[] littleEndian, boolean deflate) {
		NdArray a = new NdArray();
		a.dtype = dtype;
		a.shape = shape.clone();
		if (deflate) {
			a.data = Base64.getEncoder().encodeToString(deflate(littleEndian));
			a.encoding = "deflate";
		}
		else {
			a.data = Base64.getEncoder().encodeToString(littleEndian);
		}
		return a;
	}

	public static byte[] deflate(byte[] b) {
		Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION);
		try {
			d.setInput(b);
			d.finish();
			ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, b.length / 4));
			byte[] buf = new byte[65536];
			while (!d.finished()) out.write(buf, 0, d.deflate(buf));
			return out.toByteArray();
		}
		finally {
			d.end();
		}
	}

	public static byte[] inflate(byte[] b) {
		Inflater inf = new Inflater();
		try {
			inf.setInput(b);
			ByteArrayOutputStream out = new ByteArrayOutputStream(b.length * 4);
			byte[] buf = new byte[65536];
			while (!inf.finished()) {
				int n = inf.inflate(buf);
				if (n == 0 && (inf.needsInput() || inf.needsDictionary())) throw new IllegalArgumentException("truncated deflate stream");
				out.write(buf, 0, n);
			}
			return out.toByteArray();
		}
		catch (DataFormatException e) {
			throw new IllegalArgumentException("bad deflate stream: " + e.getMessage(), e);
		}
		finally {
			inf.end();
		}
	}

	// ---- typed element arrays -----------------------------------------------------------------------

	/** Elements of an integer NdArray (uint8, uint16, int16, int32) as int. */
	public static int[] toInts(NdArray a) {
		ByteBuffer bb = ByteBuffer.wrap(bytes(a)).order(ByteOrder.LITTLE_ENDIAN);
		int n = (int) elements(a.shape);
		int[] out = new int[n];
		switch (a.dtype) {
			case "uint8": for (int i = 0; i < n; i++) out[i] = bb.get(i) & 0xff; break;
			case "uint16": for (int i = 0; i < n; i++) out[i] = bb.getShort(2 * i) & 0xffff; break;
			case "int16": for (int i = 0; i < n; i++) out[i] = bb.getShort(2 * i); break;
			case "int32": bb.asIntBuffer().get(out); break;
			default: throw new IllegalArgumentException("not an integer dtype: " + a.dtype);
		}
		return out;
	}

	/** Elements of any NdArray as float. */
	public static float[] toFloats(NdArray a) {
		if ("float32".equals(a.dtype)) {
			float[] out = new float[(int) elements(a.shape)];
			ByteBuffer.wrap(bytes(a)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
			return out;
		}
		int[] ints = toInts(a);
		float[] out = new float[ints.length];
		for (int i = 0; i < ints.length; i++) out[i] = ints[i];
		return out;
	}

	/** int values as an NdArray of dtype uint8, uint16, int16 or int32 (values must fit). */
	public static NdArray fromInts(int[] v, int[] shape, String dtype, boolean deflate) {
		if (v.length != elements(shape)) throw new IllegalArgumentException("length " + v.length + " does not match shape " + Arrays.toString(shape));
		int bpe = bytesPerElement(dtype);
		ByteBuffer bb = ByteBuffer.allocate(v.length * bpe).order(ByteOrder.LITTLE_ENDIAN);
		switch (dtype) {
			case "uint8": for (int x : v) bb.put((byte) x); break;
			case "uint16": case "int16": for (int x : v) bb.putShort((short) x); break;
			case "int32": bb.asIntBuffer().put(v); break;
			default: throw new IllegalArgumentException("not an integer dtype: " + dtype);
		}
		return of(dtype, shape, bb.array(), deflate);
	}

	public static NdArray fromFloats(float[] v, int[] shape, boolean deflate) {
		ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
		bb.asFloatBuffer().put(v);
		return of("float32", shape, bb.array(), deflate);
	}

	// ---- ImageJ → NdArray ---------------------------------------------------------------------------

	/** Axes of the array {@link #fromImagePlus} makes: YX, ZYX, TYX or YXC. */
	public static String axesOf(ImagePlus imp) {
		if (imp.getType() == ImagePlus.COLOR_RGB && planes(imp).length == 1) return "YXC";
		ImageProcessor[] planes = planes(imp);
		if (planes.length == 1) return "YX";
		return imp.getNSlices() == 1 && imp.getNFrames() > 1 ? "TYX" : "ZYX";
	}

	/** The planes sent for an image: all of a plain stack; Z (or T) of the current channel of a hyperstack. */
	public static ImageProcessor[] planes(ImagePlus imp) {
		ImageStack stack = imp.getStack();
		int c = imp.getNChannels(), z = imp.getNSlices(), t = imp.getNFrames();
		if (c == 1 && (z == 1 || t == 1)) {
			ImageProcessor[] ps = new ImageProcessor[stack.getSize()];
			for (int i = 0; i < ps.length; i++) ps[i] = stack.getProcessor(i + 1);
			return ps;
		}
		int ch = imp.getC(), fr = imp.getT();
		boolean alongZ = z > 1;
		int n = alongZ ? z : t;
		ImageProcessor[] ps = new ImageProcessor[n];
		for (int i = 0; i < n; i++) ps[i] = stack.getProcessor(imp.getStackIndex(ch, alongZ ? i + 1 : 1, alongZ ? fr : i + 1));
		return ps;
	}

	/** An image as NdArray: YX for one plane, ZYX/TYX for a stack, YXC for one RGB plane. */
	public static NdArray fromImagePlus(ImagePlus imp, boolean deflate) {
		ImageProcessor[] planes = planes(imp);
		if (planes.length == 1) return fromProcessor(planes[0], deflate);
		int w = imp.getWidth(), h = imp.getHeight();
		ImageProcessor first = planes[0];
		if (first instanceof ColorProcessor) throw new IllegalArgumentException("RGB stacks are not supported; convert to 8-bit or split channels");
		String dtype = dtypeOf(first);
		int bpe = bytesPerElement(dtype);
		ByteBuffer bb = ByteBuffer.allocate(planes.length * w * h * bpe).order(ByteOrder.LITTLE_ENDIAN);
		for (ImageProcessor ip : planes) putPlane(bb, ip);
		return of(dtype, new int[] { planes.length, h, w }, bb.array(), deflate);
	}

	/** One plane as a YX NdArray (RGB: YXC uint8). */
	public static NdArray fromProcessor(ImageProcessor ip, boolean deflate) {
		int w = ip.getWidth(), h = ip.getHeight();
		if (ip instanceof ColorProcessor) {
			int[] px = (int[]) ip.getPixels();
			byte[] b = new byte[w * h * 3];
			for (int i = 0; i < px.length; i++) {
				b[3 * i] = (byte) (px[i] >> 16);
				b[3 * i + 1] = (byte) (px[i] >> 8);
				b[3 * i + 2] = (byte) px[i];
			}
			return of("uint8", new int[] { h, w, 3 }, b, deflate);
		}
		String dtype = dtypeOf(ip);
		ByteBuffer bb = ByteBuffer.allocate(w * h * bytesPerElement(dtype)).order(ByteOrder.LITTLE_ENDIAN);
		putPlane(bb, ip);
		return of(dtype, new int[] { h, w }, bb.array(), deflate);
	}

	public static String dtypeOf(ImageProcessor ip) {
		if (ip instanceof ByteProcessor) return "uint8";
		if (ip instanceof ShortProcessor) return "uint16";
		if (ip instanceof FloatProcessor) return "float32";
		if (ip instanceof ColorProcessor) return "uint8";
		throw new IllegalArgumentException("unsupported processor " + ip.getClass().getSimpleName());
	}

	private static void putPlane(ByteBuffer bb, ImageProcessor ip) {
		Object px = ip.getPixels();
		if (px instanceof byte[]) bb.put((byte[]) px);
		else if (px instanceof short[]) for (short s : (short[]) px) bb.putShort(s);
		else if (px instanceof float[]) for (float f : (float[]) px) bb.putFloat(f);
		else throw new IllegalArgumentException("unsupported pixels " + px.getClass().getSimpleName());
	}

	// ---- NdArray → ImageJ ---------------------------------------------------------------------------

	/** A 2D NdArray (or YXC uint8 with 3 channels) as a processor. */
	public static ImageProcessor toProcessor(NdArray a) {
		if (a.shape.length == 3 && a.shape[2] == 3 && "uint8".equals(a.dtype)) {
			int h = a.shape[0], w = a.shape[1];
			byte[] b = bytes(a);
			int[] px = new int[w * h];
			for (int i = 0; i < px.length; i++) px[i] = (b[3 * i] & 0xff) << 16 | (b[3 * i + 1] & 0xff) << 8 | b[3 * i + 2] & 0xff;
			return new ColorProcessor(w, h, px);
		}
		if (a.shape.length != 2) throw new IllegalArgumentException("not a 2D array: shape " + Arrays.toString(a.shape));
		ImageProcessor[] ps = planesOf(a, 1);
		return ps[0];
	}

	/** A 2D or 3D (ZYX) NdArray as an ImagePlus (a stack for 3D). */
	public static ImagePlus toImagePlus(NdArray a, String title) {
		if (a.shape.length == 2 || (a.shape.length == 3 && a.shape[2] == 3 && "uint8".equals(a.dtype))) return new ImagePlus(title, toProcessor(a));
		if (a.shape.length != 3) throw new IllegalArgumentException("cannot show an array of shape " + Arrays.toString(a.shape));
		ImageProcessor[] ps = planesOf(a, a.shape[0]);
		ImageStack stack = new ImageStack(ps[0].getWidth(), ps[0].getHeight());
		for (ImageProcessor ip : ps) stack.addSlice(ip);
		return new ImagePlus(title, stack);
	}

	private static ImageProcessor[] planesOf(NdArray a, int n) {
		int h = a.shape[a.shape.length - 2], w = a.shape[a.shape.length - 1], plane = w * h;
		ImageProcessor[] out = new ImageProcessor[n];
		switch (a.dtype) {
			case "uint8": {
				byte[] b = bytes(a);
				for (int z = 0; z < n; z++) out[z] = new ByteProcessor(w, h, Arrays.copyOfRange(b, z * plane, (z + 1) * plane));
				break;
			}
			case "uint16": {
				ByteBuffer bb = ByteBuffer.wrap(bytes(a)).order(ByteOrder.LITTLE_ENDIAN);
				for (int z = 0; z < n; z++) {
					short[] s = new short[plane];
					bb.asShortBuffer().position(z * plane).get(s);
					out[z] = new ShortProcessor(w, h, s, null);
				}
				break;
			}
			case "float32": {
				float[] f = toFloats(a);
				for (int z = 0; z < n; z++) out[z] = new FloatProcessor(w, h, Arrays.copyOfRange(f, z * plane, (z + 1) * plane));
				break;
			}
			case "int16": case "int32": {
				int[] v = toInts(a);
				boolean fits16 = true;
				for (int x : v) if (x < 0 || x > 65535) { fits16 = false; break; }
				for (int z = 0; z < n; z++) {
					if (fits16) {
						short[] s = new short[plane];
						for (int i = 0; i < plane; i++) s[i] = (short) v[z * plane + i];
						out[z] = new ShortProcessor(w, h, s, null);
					}
					else {
						float[] f = new float[plane];
						for (int i = 0; i < plane; i++) f[i] = v[z * plane + i];
						out[z] = new FloatProcessor(w, h, f);
					}
				}
				break;
			}
			default: throw new IllegalArgumentException("unsupported dtype " + a.dtype);
		}
		for (ImageProcessor ip : out) ip.resetMinAndMax();
		return out;
	}

	/** Integer values of a processor (label images: rounds 32-bit values). */
	public static int[] intPixels(ImageProcessor ip) {
		int n = ip.getPixelCount();
		int[] v = new int[n];
		Object px = ip.getPixels();
		if (px instanceof byte[]) { byte[] b = (byte[]) px; for (int i = 0; i < n; i++) v[i] = b[i] & 0xff; }
		else if (px instanceof short[]) { short[] s = (short[]) px; for (int i = 0; i < n; i++) v[i] = s[i] & 0xffff; }
		else if (px instanceof float[]) { float[] f = (float[]) px; for (int i = 0; i < n; i++) v[i] = Math.round(f[i]); }
		else throw new IllegalArgumentException("a label image must be 8-, 16- or 32-bit, not RGB");
		return v;
	}
}
