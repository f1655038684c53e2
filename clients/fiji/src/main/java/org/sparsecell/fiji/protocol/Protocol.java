package org.sparsecell.fiji.protocol;

import java.util.ArrayList;
import java.util.List;

import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

/**
 * Wire types of the sparsecell protocol, one public-field class per struct of protocol/protocol.schema.json
 * (that file is generated from protocol/src, the source of truth). Class names are the schema's $defs names;
 * ProtocolSchemaTest checks every class field for field against the schema and parses every wire example.
 * <p>
 * Optional fields are boxed (null = absent, Gson leaves them out); required fields may be primitive.
 * Unions of string and integer (tokens, request ids) are {@link JsonPrimitive}; free-form objects are
 * {@link JsonObject}.
 */
public final class Protocol {
	private Protocol() {}

	// ---- structs -------------------------------------------------------------------------------------

	/** {dtype, shape, data: base64 little-endian, encoding?: raw|deflate}. See imaging.NdArrays. */
	public static class NdArray {
		public String dtype;
		public int[] shape;
		public String data;
		public String encoding;
	}

	/** image.add's image: an NdArray, or {tiff: base64 TIFF bytes}. */
	public static class ImageData extends NdArray {
		public String tiff;
	}

	public static class Counts {
		public int unlabeled;
		public int background;
		public int objects;

		@Override
		public String toString() {
			return "objects=" + objects + " background=" + background + " unlabeled=" + unlabeled;
		}
	}

	public static class ImageInfo {
		public String imageId;
		public String name;
		public int[] shape;
		public String axes;
		public String dtype;
		public int generation;
		public Counts counts;
	}

	public static class JobInfo {
		public String jobId;
		public String kind;
		public String state;
		public Boolean live;
		public Integer step;
		public Integer steps;
		public Double loss;
		public String error;
	}

	public static class SessionInfo {
		public String sessionId;
		public String name;
		public String family;
		public JsonObject config;
		public String createdAt;
		public int generation;
		public String state;
		public List<ImageInfo> images = new ArrayList<>();
		public Integer modelVersion;
		public Integer trainedGeneration;
		public List<JobInfo> jobs = new ArrayList<>();
		public Boolean autoBackground;
		/** Name of the built-in starter model the session model began from (absent: from scratch). */
		public String starter;
		/** Damage found on disk when the session was opened (null when none). */
		public List<SessionWarning> warnings;
		/** How the starter was adapted to these images, chosen from the labels before its first fine-tuning step (null until then). */
		public SessionAdaptation adaptation;
	}

	/** A starter's input adaptation: images resampled by scale before the network; intensities inverted after normalisation. */
	public static class SessionAdaptation {
		public double scale;
		public boolean invert;
	}

	public static class SessionWarning {
		public String imageId;
		public String message;
	}

	/** A predicted object: points are [[y, x], ...] vertices in image pixels. */
	public static class PolygonRoi {
		public int id;
		public double score;
		public double[][] points;
	}

	public static class TrainOptions {
		public Integer batchSize;
		public Integer patchSize;
		public Double learningRate;
		public Integer seed;
		public Boolean augment;
		/** Live mode: push prediction.updated after this many steps (default 20). */
		public Integer pushEverySteps;
		/** Live mode: ... or after this many seconds (default 5). */
		public Double pushEveryS;
		/** Live mode: suggestions.updated after a prediction push at most once per this many seconds (default 10; 0 = never). */
		public Double suggestEveryS;
	}

	/** Something to annotate next (model.suggest, suggestions.updated); region is its bounding box [y0, x0, y1, x1]. */
	public static class Suggestion {
		public String imageId;
		public int[] region;
		public Integer z;
		/** object | area */
		public String kind;
		/** uncertain | near-threshold | unlike-labeled */
		public String reason;
		public double score;
		/** object: the predicted outline [[y, x], ...]. */
		public double[][] polygon;
	}

	public static class ServerLimits {
		public long maxMessageBytes;
		public long maxArrayElements;
		public int maxSessions;
		public Integer maxBatch;
		public Integer maxImagesPerSession;
		public Integer maxObjects;
	}

	/** Scores of a starter model from its model card (held-out test images, IoU 0.5). */
	public static class StarterScores {
		public double accuracy05;
		public double f1;
		public double pq;
		public Integer testImages;
	}

	/** A built-in trained model a session can start from (session.create {starter}). */
	public static class StarterModel {
		public String name;
		public String family;
		public String description;
		public StarterScores scores;
	}

	public static class RecipeLive {
		public int batchSize;
		public int patchSize;
		public double learningRate;
	}

	public static class RecipeFinetune {
		public double learningRate;
		public double lrFinal;
		public int warmupSteps;
		public int freezeEncoderSteps;
		public double liveLearningRate;
		public Integer liveWarmupSteps;
		public Integer liveFreezeEncoderSteps;
	}

	/** The daemon's training defaults (server.info.recipe): what the commands show instead of their own. */
	public static class TrainRecipe {
		public int unetDepth;
		public int unetFilters;
		public int batchSize;
		public int patchSize;
		public double learningRate;
		public double lrFinal;
		public double finalFraction;
		public double budgetS;
		public RecipeLive live;
		public RecipeFinetune finetune;
	}

	// ---- methods: <Method>Params / <Method>Result --------------------------------------------------

	public static class ServerInfoParams {}

	public static class Device {
		public String type;
		public String name;
		public Integer cores;
		public Double memoryBytes;
	}

	public static class Backend {
		public String name;
		public Boolean simd;
		public Integer threads;
		public Integer interOpThreads;
		public Boolean gpu;
		public List<Device> devices;
		public String fallback;
	}

	/** What a cluster compute worker is doing now. */
	public static class WorkerJob {
		public String kind;
		public String sessionId;
		public String jobId;
	}

	/** A compute worker of a cluster front daemon (server.info.workers). */
	public static class ClusterWorker {
		public String workerId;
		public String host;
		public String backend;
		public Double load;
		public Integer jobsDone;
		public WorkerJob job;
	}

	public static class ServerInfoResult {
		public String name;
		public String version;
		public String protocolVersion;
		public Backend backend;
		public ServerLimits limits;
		public List<String> families = new ArrayList<>();
		public List<StarterModel> starterModels;
		public TrainRecipe recipe;
		public String home;
		/** Cluster front daemons only: the compute workers connected now. */
		public List<ClusterWorker> workers;
	}

	public static class SessionCreateParams {
		public String name;
		public String family;
		public JsonObject config;
		public Boolean autoBackground;
		/** Begin from this built-in starter model of the family (e.g. "nuclei"). */
		public String starter;
	}

	public static class SessionCreateResult {
		public String sessionId;
		public String name;
		public String family;
		public String starter;
	}

	public static class SessionListParams {}

	public static class SessionSummary {
		public String sessionId;
		public String name;
		public String family;
		public String state;
		public int images;
		public int generation;
	}

	public static class SessionListResult {
		public List<SessionSummary> sessions = new ArrayList<>();
		/** Sessions whose files are damaged (null when none). */
		public List<DamagedSession> damaged;
	}

	public static class DamagedSession {
		public String sessionId;
		public String error;
	}

	public static class SessionGetParams {
		public String sessionId;
	}

	public static class SessionGetResult extends SessionInfo {}

	public static class SessionCloseParams {
		public String sessionId;
		public Boolean delete;
	}

	public static class SessionCloseResult {
		public boolean closed;
		public boolean deleted;
	}

	public static class SessionSetViewParams {
		public String sessionId;
		public String imageId;
		/** [y0, x0, y1, x1], half-open. */
		public int[] region;
		public Integer z;
		public Integer t;
	}

	public static class SessionSetViewResult {
		public boolean ok;
	}

	public static class ImageAddParams {
		public String sessionId;
		public ImageData image;
		public String axes;
		public String name;
	}

	public static class ImageAddResult {
		public String imageId;
		public int[] shape;
		public String axes;
	}

	public static class LabelsUpdateParams {
		public String sessionId;
		public String imageId;
		public NdArray labels;
		/** signed | offset1 */
		public String encoding;
		/** Patch origin [y, x] or [z, y, x]; null = full layer. */
		public int[] origin;
		/** annotation | correction */
		public String kind;
	}

	public static class LabelsUpdateResult {
		public int generation;
		public Counts counts;
	}

	public static class LabelsGetParams {
		public String sessionId;
		public String imageId;
		public String encoding;
	}

	public static class LabelsGetResult {
		public int generation;
		public NdArray labels;
		public String encoding;
		public Counts counts;
	}

	public static class ModelTrainParams {
		public String sessionId;
		public String family;
		public Integer steps;
		public Double timeLimitS;
		public JsonObject config;
		public TrainOptions options;
		public Boolean live;
		public Boolean reset;
		/** Continue the job a crash interrupted, from the last checkpoint. */
		public Boolean resume;
		/** "starter" (fine-tune the family's built-in model) or "scratch" (fresh weights); null: continue. */
		public String from;
	}

	public static class ModelTrainResult {
		public String jobId;
		public Integer resumedFrom;
	}

	public static class ModelConfigureParams {
		public String sessionId;
		public TrainOptions options;
	}

	public static class ModelConfigureResult {
		public TrainOptions options;
	}

	public static class ModelPredictParams {
		public String sessionId;
		public String imageId;
		public int[] region;
		public Integer z;
		public Double probThresh;
		public Double nmsThresh;
		public Integer maxObjects;
		public JsonPrimitive progressToken;
	}

	public static class ModelPredictResult {
		public NdArray labels;
		public List<PolygonRoi> polygons = new ArrayList<>();
		public int modelVersion;
		public int generation;
		public int[] region;
		public Integer z;
		/** True when more objects were found than maxObjects. */
		public Boolean truncated;
	}

	public static class ModelSuggestParams {
		public String sessionId;
		/** Default: the image of the session view, else the first image. */
		public String imageId;
		/** Default: the view region on that image, else the whole plane. */
		public int[] region;
		public Integer z;
		/** Most suggestions (default 10). */
		public Integer count;
		public Double probThresh;
		public Double nmsThresh;
		/** Flipped predictions compared with the plain one (0-3, default 1). */
		public Integer tta;
		/** uncertain, near-threshold, unlike-labeled (default all). */
		public List<String> reasons;
	}

	public static class ModelSuggestResult {
		public int modelVersion;
		public int generation;
		public String imageId;
		public int[] region;
		public Integer z;
		public List<Suggestion> suggestions = new ArrayList<>();
	}

	public static class ModelCancelParams {
		public String jobId;
	}

	public static class ModelCancelResult {
		public boolean cancelled;
		public String state;
	}

	public static class ModelExportParams {
		public String sessionId;
		/** sparsecell (default) | bioimageio */
		public String format;
		/** bioimageio: the image whose crop becomes the test tensor. */
		public String imageId;
		/** bioimageio: model name (5-128 letters, digits, spaces, _+-()). */
		public String name;
		public String description;
		public List<String> authors;
		/** bioimageio: SPDX license id (default CC-BY-4.0). */
		public String license;
	}

	public static class ModelExportResult {
		/** Base64 archive. */
		public String model;
		public String family;
		public int modelVersion;
		public long bytes;
		/** sparsecell | bioimageio */
		public String format;
	}

	public static class ModelImportParams {
		public String sessionId;
		public String model;
		/** sparsecell (default) | bioimageio (a package that sparsecell exported) */
		public String format;
	}

	public static class ModelImportResult {
		public String family;
		public int modelVersion;
	}

	public static class RpcDiscoverParams {}

	// ---- notifications -------------------------------------------------------------------------------

	/** $/progress params: token = jobId (training) or the progressToken a request was given. */
	public static class ProgressParams {
		public JsonPrimitive token;
		/** begin | report | end */
		public String kind;
		public String title;
		public String message;
		public Double percentage;
		public Integer step;
		public Integer steps;
		public Double loss;
		public Double stepsPerS;
		public Double etaS;
		/** On end: done | cancelled | failed. */
		public String state;
		public String error;

		public String tokenString() {
			return token == null ? null : token.getAsString();
		}

		public boolean isEnd() {
			return "end".equals(kind);
		}
	}

	/**
	 * $/event params: the union of prediction.updated (labels, polygons, region), suggestions.updated (suggestions,
	 * region) and the simple events (model.updated, session.closed, labels.updated, job.finished).
	 */
	public static class EventParams {
		public String type;
		public String sessionId;
		public String imageId;
		public String jobId;
		public int[] region;
		public Integer z;
		public Integer generation;
		public Integer modelVersion;
		public NdArray labels;
		public List<PolygonRoi> polygons;
		public List<Suggestion> suggestions;
		public String state;
	}

	public static class HeartbeatParams {
		public String serverTime;
	}

	public static class CancelRequestParams {
		public JsonPrimitive id;
	}
}
