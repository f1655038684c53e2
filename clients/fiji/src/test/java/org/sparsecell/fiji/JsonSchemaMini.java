package org.sparsecell.fiji;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

/**
 * The subset of JSON Schema (2020-12) that protocol.schema.json uses: type, const, anyOf, properties, required,
 * additionalProperties, patternProperties, items, min/maxItems, minimum, maximum, exclusiveMinimum, pattern,
 * min/maxLength. Test code: validates the wire examples and what the Java types serialize to.
 */
final class JsonSchemaMini {
	private JsonSchemaMini() {}

	static List<String> validate(JsonObject schema, JsonElement v) {
		List<String> errors = new ArrayList<>();
		check(schema, v, "", errors);
		return errors;
	}

	static boolean valid(JsonObject schema, JsonElement v) {
		return validate(schema, v).isEmpty();
	}

	private static void check(JsonObject s, JsonElement v, String path, List<String> errors) {
		if (s.has("anyOf")) {
			boolean ok = false;
			for (JsonElement alt : s.getAsJsonArray("anyOf")) if (valid(alt.getAsJsonObject(), v)) { ok = true; break; }
			if (!ok) errors.add(path + ": matches no anyOf alternative: " + abbreviate(v));
		}
		if (s.has("const") && !s.get("const").equals(v)) errors.add(path + ": expected const " + s.get("const") + ", got " + abbreviate(v));
		if (s.has("type")) {
			String t = s.get("type").getAsString();
			if (!hasType(v, t)) {
				errors.add(path + ": expected " + t + ", got " + abbreviate(v));
				return;
			}
			switch (t) {
				case "object": object(s, v.getAsJsonObject(), path, errors); break;
				case "array": array(s, v.getAsJsonArray(), path, errors); break;
				case "integer": case "number": number(s, v.getAsDouble(), path, errors); break;
				case "string": string(s, v.getAsString(), path, errors); break;
				default: break;
			}
		}
	}

	static boolean hasType(JsonElement v, String t) {
		switch (t) {
			case "object": return v.isJsonObject();
			case "array": return v.isJsonArray();
			case "null": return v.isJsonNull();
			case "string": return v.isJsonPrimitive() && v.getAsJsonPrimitive().isString();
			case "boolean": return v.isJsonPrimitive() && v.getAsJsonPrimitive().isBoolean();
			case "number": return v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber();
			case "integer": {
				if (!(v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber())) return false;
				double d = v.getAsDouble();
				return d == Math.rint(d);
			}
			default: throw new IllegalArgumentException("type " + t);
		}
	}

	private static void object(JsonObject s, JsonObject o, String path, List<String> errors) {
		JsonObject props = s.has("properties") ? s.getAsJsonObject("properties") : new JsonObject();
		if (s.has("required")) for (JsonElement r : s.getAsJsonArray("required")) {
			if (!o.has(r.getAsString())) errors.add(path + ": missing required " + r.getAsString());
		}
		boolean closed = s.has("additionalProperties") && s.get("additionalProperties").isJsonPrimitive() && !s.get("additionalProperties").getAsBoolean();
		for (Map.Entry<String, JsonElement> e : o.entrySet()) {
			String p = path + "/" + e.getKey();
			if (props.has(e.getKey())) check(props.getAsJsonObject(e.getKey()), e.getValue(), p, errors);
			else if (closed && !s.has("patternProperties")) errors.add(p + ": not allowed (additionalProperties false)");
		}
	}

	private static void array(JsonObject s, JsonArray a, String path, List<String> errors) {
		if (s.has("minItems") && a.size() < s.get("minItems").getAsInt()) errors.add(path + ": fewer than " + s.get("minItems") + " items");
		if (s.has("maxItems") && a.size() > s.get("maxItems").getAsInt()) errors.add(path + ": more than " + s.get("maxItems") + " items");
		if (s.has("items")) for (int i = 0; i < a.size(); i++) check(s.getAsJsonObject("items"), a.get(i), path + "/" + i, errors);
	}

	private static void number(JsonObject s, double d, String path, List<String> errors) {
		if (s.has("minimum") && d < s.get("minimum").getAsDouble()) errors.add(path + ": below minimum " + s.get("minimum"));
		if (s.has("maximum") && d > s.get("maximum").getAsDouble()) errors.add(path + ": above maximum " + s.get("maximum"));
		if (s.has("exclusiveMinimum") && d <= s.get("exclusiveMinimum").getAsDouble()) errors.add(path + ": not above " + s.get("exclusiveMinimum"));
	}

	private static void string(JsonObject s, String v, String path, List<String> errors) {
		if (s.has("pattern") && !Pattern.compile(s.get("pattern").getAsString()).matcher(v).find()) errors.add(path + ": does not match " + s.get("pattern"));
		if (s.has("maxLength") && v.length() > s.get("maxLength").getAsInt()) errors.add(path + ": longer than " + s.get("maxLength"));
		if (s.has("minLength") && v.length() < s.get("minLength").getAsInt()) errors.add(path + ": shorter than " + s.get("minLength"));
	}

	/** JSON equality with numbers compared by value (1 == 1.0). */
	static boolean jsonEquals(JsonElement a, JsonElement b) {
		if (a == null || a.isJsonNull()) return b == null || b.isJsonNull();
		if (b == null || b.isJsonNull()) return false;
		if (a.isJsonPrimitive() && b.isJsonPrimitive()) {
			JsonPrimitive pa = a.getAsJsonPrimitive(), pb = b.getAsJsonPrimitive();
			if (pa.isNumber() && pb.isNumber()) return pa.getAsDouble() == pb.getAsDouble();
			return pa.equals(pb);
		}
		if (a.isJsonArray() && b.isJsonArray()) {
			JsonArray x = a.getAsJsonArray(), y = b.getAsJsonArray();
			if (x.size() != y.size()) return false;
			for (int i = 0; i < x.size(); i++) if (!jsonEquals(x.get(i), y.get(i))) return false;
			return true;
		}
		if (a.isJsonObject() && b.isJsonObject()) {
			JsonObject x = a.getAsJsonObject(), y = b.getAsJsonObject();
			if (!x.keySet().equals(y.keySet())) return false;
			for (String k : x.keySet()) if (!jsonEquals(x.get(k), y.get(k))) return false;
			return true;
		}
		return false;
	}

	private static String abbreviate(JsonElement v) {
		String s = String.valueOf(v);
		return s.length() > 80 ? s.substring(0, 80) + "…" : s;
	}
}
