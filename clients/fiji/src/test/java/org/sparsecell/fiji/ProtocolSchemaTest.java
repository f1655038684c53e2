package org.sparsecell.fiji;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.sparsecell.fiji.protocol.Protocol;
import org.sparsecell.fiji.rpc.RpcClient;
import org.sparsecell.fiji.rpc.RpcException;

/**
 * The Java protocol types against protocol/openrpc.json and protocol/protocol.schema.json (generated from
 * protocol/src): every method has a typed RpcClient call whose Params and Result classes have exactly the schema's
 * fields with compatible types; every wire example in protocol/examples parses into those classes, validates
 * against the schema and serializes back to the same JSON.
 */
class ProtocolSchemaTest {

	static File protocolDir() {
		return new File(TestDaemon.repo(), "protocol");
	}

	static JsonObject readJson(File f) {
		try {
			return JsonParser.parseString(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8)).getAsJsonObject();
		}
		catch (IOException e) {
			throw new AssertionError("cannot read " + f + ": " + e);
		}
	}

	static JsonObject openrpc() {
		return readJson(new File(protocolDir(), "openrpc.json"));
	}

	static JsonObject defs() {
		return readJson(new File(protocolDir(), "protocol.schema.json")).getAsJsonObject("$defs");
	}

	static Set<String> methodNames() {
		Set<String> out = new TreeSet<>();
		openrpc().getAsJsonArray("methods").forEach(m -> out.add(m.getAsJsonObject().get("name").getAsString()));
		return out;
	}

	/** "session.setView" → "sessionSetView"; its schema defs are SessionSetViewParams / SessionSetViewResult. */
	static String camel(String method) {
		String[] parts = method.split("\\.");
		StringBuilder b = new StringBuilder(parts[0]);
		for (int i = 1; i < parts.length; i++) b.append(Character.toUpperCase(parts[i].charAt(0))).append(parts[i].substring(1));
		return b.toString();
	}

	static String pascal(String method) {
		String c = camel(method);
		return Character.toUpperCase(c.charAt(0)) + c.substring(1);
	}

	/** The typed call of a method: RpcClient.<camel>(<Pascal>Params). */
	static Method typedCall(String method) {
		for (Method m : RpcClient.class.getMethods()) {
			if (m.getName().equals(camel(method)) && m.getParameterCount() == 1 && m.getParameterTypes()[0].getSimpleName().equals(pascal(method) + "Params")) return m;
		}
		return null;
	}

	static final Map<String, Class<?>> NOTIFICATIONS = Map.of(
		"$/progress", Protocol.ProgressParams.class,
		"$/event", Protocol.EventParams.class,
		"$/heartbeat", Protocol.HeartbeatParams.class,
		"$/cancelRequest", Protocol.CancelRequestParams.class);

	@Test
	void everyMethodHasATypedCallMatchingTheSchema() {
		JsonObject defs = defs();
		List<String> problems = new ArrayList<>();
		for (String method : methodNames()) {
			Method m = typedCall(method);
			if (m == null) {
				problems.add(method + ": no RpcClient." + camel(method) + "(" + pascal(method) + "Params)");
				continue;
			}
			JsonObject ps = defs.getAsJsonObject(pascal(method) + "Params"), rs = defs.getAsJsonObject(pascal(method) + "Result");
			assertNotNull(ps, pascal(method) + "Params in protocol.schema.json");
			assertNotNull(rs, pascal(method) + "Result in protocol.schema.json");
			checkType(ps, m.getParameterTypes()[0], method + " params", false, problems);
			checkType(rs, m.getGenericReturnType(), method + " result", false, problems);
		}
		assertTrue(problems.isEmpty(), String.join("\n", problems));
	}

	@Test
	void notificationTypesMatchTheSchema() {
		JsonObject defs = defs();
		List<String> problems = new ArrayList<>();
		checkType(defs.getAsJsonObject("ProgressNotification"), Protocol.ProgressParams.class, "$/progress", false, problems);
		checkType(defs.getAsJsonObject("EventNotification"), Protocol.EventParams.class, "$/event", false, problems);
		checkType(defs.getAsJsonObject("HeartbeatNotification"), Protocol.HeartbeatParams.class, "$/heartbeat", false, problems);
		checkType(defs.getAsJsonObject("CancelRequestNotification"), Protocol.CancelRequestParams.class, "$/cancelRequest", false, problems);
		JsonObject xn = openrpc().getAsJsonObject("components").getAsJsonObject("x-notifications");
		assertEquals(NOTIFICATIONS.keySet(), xn.keySet(), "notifications of openrpc.json");
		for (String struct : List.of("NdArray", "Counts", "ImageInfo", "JobInfo", "SessionInfo", "PolygonRoi", "TrainOptions", "ServerLimits")) {
			Class<?> c = classOf(struct);
			checkType(defs.getAsJsonObject(struct), c, struct, false, problems);
		}
		assertTrue(problems.isEmpty(), String.join("\n", problems));
	}

	@Test
	void errorCodesMatchTheProtocol() throws Exception {
		JsonObject errors = openrpc().getAsJsonObject("components").getAsJsonObject("errors");
		for (String name : errors.keySet()) {
			String constant = name.replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase();
			Field f = RpcException.class.getField(constant);
			assertEquals(errors.getAsJsonObject(name).get("code").getAsInt(), f.getInt(null), name);
		}
		// and the other way: no constant for a JSON-RPC code the protocol does not define (client-side codes are above -32600)
		Set<Integer> codes = new HashSet<>();
		for (String name : errors.keySet()) codes.add(errors.getAsJsonObject(name).get("code").getAsInt());
		for (Field f : RpcException.class.getFields()) {
			if (f.getType() != int.class || !Modifier.isStatic(f.getModifiers())) continue;
			int code = f.getInt(null);
			if (code <= -32600) assertTrue(codes.contains(code), "RpcException." + f.getName() + " = " + code + " is not a protocol error code");
		}
	}

	@TestFactory
	List<DynamicTest> everyExampleParsesValidatesAndRoundTrips() {
		File dir = new File(protocolDir(), "examples");
		File[] files = dir.listFiles((d, n) -> n.endsWith(".json"));
		assertNotNull(files, "protocol/examples");
		assertTrue(files.length >= 30, "examples found: " + files.length);
		Arrays.sort(files);
		JsonObject defs = defs();
		Set<String> methods = methodNames();
		Set<String> covered = new HashSet<>();
		List<DynamicTest> tests = new ArrayList<>();
		for (File f : files) {
			tests.add(DynamicTest.dynamicTest(f.getName(), () -> {
				JsonObject msg = readJson(f);
				assertEquals("2.0", msg.get("jsonrpc").getAsString());
				String name = f.getName();
				if (msg.has("error")) {
					RpcException e = RpcException.fromError(msg.getAsJsonObject("error"));
					assertEquals(RpcException.INVALID_PARAMS, e.getCode());
					assertFalse(e.getDataPaths().isEmpty(), "invalid params carry data paths");
					for (JsonElement d : e.getData().getAsJsonArray()) assertTrue(d.getAsJsonObject().has("message"));
					return;
				}
				if (msg.has("method") && !msg.has("id")) {
					String method = msg.get("method").getAsString();
					Class<?> type = NOTIFICATIONS.get(method);
					assertNotNull(type, "known notification " + method);
					String def = method.equals("$/progress") ? "ProgressNotification" : method.equals("$/event") ? "EventNotification" : method.equals("$/heartbeat") ? "HeartbeatNotification" : "CancelRequestNotification";
					roundTrip(defs.getAsJsonObject(def), msg.get("params"), type, name);
					return;
				}
				String method = msg.has("method") ? msg.get("method").getAsString() : name.replaceFirst("\\.response\\.json$", "");
				assertTrue(methods.contains(method), name + ": method " + method + " is in openrpc.json");
				Method call = typedCall(method);
				assertNotNull(call, "typed call for " + method);
				if (msg.has("method")) {
					assertTrue(name.endsWith(".request.json"), name);
					roundTrip(defs.getAsJsonObject(pascal(method) + "Params"), msg.get("params"), call.getParameterTypes()[0], name);
					covered.add(method);
				}
				else {
					assertTrue(msg.has("result"), name + " has a result");
					Class<?> rt = call.getReturnType();
					JsonElement result = msg.get("result");
					if (rt == JsonObject.class) assertTrue(JsonSchemaMini.valid(defs.getAsJsonObject(pascal(method) + "Result"), result));
					else roundTrip(defs.getAsJsonObject(pascal(method) + "Result"), result, rt, name);
				}
			}));
		}
		tests.add(DynamicTest.dynamicTest("every method has a request example", () -> {
			Set<String> missing = new TreeSet<>(methods);
			for (File f : files) missing.remove(f.getName().replaceFirst("\\.request\\.json$", ""));
			assertTrue(missing.isEmpty(), "methods without a request example: " + missing);
		}));
		return tests;
	}

	private static void roundTrip(JsonObject schema, JsonElement json, Class<?> type, String name) {
		List<String> errors = JsonSchemaMini.validate(schema, json);
		assertTrue(errors.isEmpty(), name + " does not validate: " + errors);
		Object parsed = RpcClient.GSON.fromJson(json, type);
		JsonElement back = RpcClient.GSON.toJsonTree(parsed);
		assertTrue(JsonSchemaMini.jsonEquals(json, back), name + ": round trip through " + type.getSimpleName() + " changed\n" + json + "\n" + back);
		assertTrue(JsonSchemaMini.valid(schema, back), name + ": re-serialized form does not validate");
	}

	static Class<?> classOf(String simpleName) {
		try {
			return Class.forName(Protocol.class.getName() + "$" + simpleName);
		}
		catch (ClassNotFoundException e) {
			throw new AssertionError("no Protocol." + simpleName);
		}
	}

	// ---- structural comparison of a schema and a Java type -------------------------------------------------

	static void checkType(JsonObject s, Type t, String path, boolean optional, List<String> problems) {
		Class<?> raw = rawClass(t);
		if (s.has("anyOf")) {
			List<JsonObject> alts = new ArrayList<>();
			s.getAsJsonArray("anyOf").forEach(a -> alts.add(a.getAsJsonObject()));
			Set<String> types = new LinkedHashSet<>();
			for (JsonObject a : alts) types.add(a.has("type") ? a.get("type").getAsString() : "?");
			if (types.equals(Set.of("string"))) expect(raw == String.class, path, "a string union needs String, not " + t, problems);
			else if (types.equals(new HashSet<>(List.of("string", "integer")))) expect(raw == JsonPrimitive.class, path, "string|integer needs JsonPrimitive, not " + t, problems);
			else if (types.equals(Set.of("object"))) {
				Set<String> union = new TreeSet<>();
				for (JsonObject a : alts) {
					union.addAll(a.getAsJsonObject("properties").keySet());
					checkObject(a, raw, path, true, problems);
				}
				expect(fieldsOf(raw).keySet().equals(union), path, raw.getSimpleName() + " fields " + fieldsOf(raw).keySet() + " != union of alternatives " + union, problems);
			}
			else problems.add(path + ": unsupported anyOf " + types);
			return;
		}
		String type = s.has("type") ? s.get("type").getAsString() : "any";
		switch (type) {
			case "string": expect(raw == String.class, path, "string needs String, not " + t, problems); break;
			case "integer": expect(raw == int.class || raw == long.class || raw == Integer.class || raw == Long.class, path, "integer needs int/long, not " + t, problems); break;
			case "number": expect(raw == double.class || raw == Double.class, path, "number needs double, not " + t, problems); break;
			case "boolean": expect(raw == boolean.class || raw == Boolean.class, path, "boolean needs boolean, not " + t, problems); break;
			case "array": {
				Type item;
				if (raw.isArray()) item = t instanceof GenericArrayType ? ((GenericArrayType) t).getGenericComponentType() : raw.getComponentType();
				else if (List.class.isAssignableFrom(raw) && t instanceof ParameterizedType) item = ((ParameterizedType) t).getActualTypeArguments()[0];
				else {
					problems.add(path + ": array needs a Java array or List<T>, not " + t);
					break;
				}
				if (s.has("items")) checkType(s.getAsJsonObject("items"), item, path + "[]", false, problems);
				break;
			}
			case "object": {
				boolean open = s.has("patternProperties") || (s.has("additionalProperties") && s.get("additionalProperties").isJsonPrimitive() && s.get("additionalProperties").getAsBoolean());
				if (open) expect(raw == JsonObject.class, path, "free-form object needs JsonObject, not " + t, problems);
				else checkObject(s, raw, path, false, problems);
				break;
			}
			default: expect(raw == JsonElement.class || raw == Object.class, path, "unknown needs JsonElement", problems);
		}
		if (optional && raw.isPrimitive()) problems.add(path + ": optional field must be boxed (null = absent), not " + raw);
	}

	private static void checkObject(JsonObject s, Class<?> c, String path, boolean subset, List<String> problems) {
		Map<String, Field> fields = fieldsOf(c);
		JsonObject props = s.has("properties") ? s.getAsJsonObject("properties") : new JsonObject();
		if (!subset) expect(fields.keySet().equals(new TreeSet<>(props.keySet())), path, c.getSimpleName() + " fields " + fields.keySet() + " != schema properties " + new TreeSet<>(props.keySet()), problems);
		Set<String> required = new HashSet<>();
		if (s.has("required")) s.getAsJsonArray("required").forEach(r -> required.add(r.getAsString()));
		for (String p : props.keySet()) {
			Field f = fields.get(p);
			if (f == null) {
				problems.add(path + "." + p + ": no field in " + c.getSimpleName());
				continue;
			}
			checkType(props.getAsJsonObject(p), f.getGenericType(), path + "." + p, !required.contains(p) || subset, problems);
		}
	}

	static Map<String, Field> fieldsOf(Class<?> c) {
		Map<String, Field> out = new java.util.TreeMap<>();
		for (Field f : c.getFields()) if (!Modifier.isStatic(f.getModifiers())) out.put(f.getName(), f);
		return out;
	}

	private static Class<?> rawClass(Type t) {
		if (t instanceof Class) return (Class<?>) t;
		if (t instanceof ParameterizedType) return (Class<?>) ((ParameterizedType) t).getRawType();
		if (t instanceof GenericArrayType) return Object[].class;
		return Object.class;
	}

	private static void expect(boolean ok, String path, String message, List<String> problems) {
		if (!ok) problems.add(path + ": " + message);
	}
}
