/**
 * The METHODS table: every JSON-RPC method's params, result and possible application errors, declared once.
 * The server validates params against it, the TS client takes its types from it, and codegen turns it into
 * openrpc.json (served by rpc.discover) and protocol.schema.json (for the Python and Java clients).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ErrorCodeName } from './errors.js';
import {
  Axes,
  Counts,
  FamilyName,
  ImageId,
  JobId,
  LabelEncoding,
  NdArray,
  PolygonRoi,
  Region,
  ServerLimits,
  SessionId,
  SessionInfo,
  StarterModel,
  Suggestion,
  SuggestionReason,
  TrainOptions,
  TrainRecipe,
} from './types.js';

export interface MethodSpec {
  summary: string;
  params: TSchema;
  result: TSchema;
  errors: ErrorCodeName[];
  /** True when the method starts a job and reports through $/progress. */
  progress?: boolean;
}

const Obj = <T extends Record<string, TSchema>>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

const SessionRef = { sessionId: SessionId };
/** SPDX ids accepted as a bioimage.io package license (a subset that the spec's validator knows). */
export const BIOIMAGEIO_LICENSES = [
  'CC-BY-4.0',
  'CC-BY-SA-4.0',
  'CC-BY-NC-4.0',
  'CC-BY-NC-SA-4.0',
  'CC0-1.0',
  'MIT',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'Apache-2.0',
  'GPL-2.0-only',
  'GPL-3.0-only',
  'GPL-3.0-or-later',
  'LGPL-3.0-only',
  'AGPL-3.0-only',
  'MPL-2.0',
  'Unlicense',
  'ISC',
  'Zlib',
] as const;
const ModelFormat = Type.Union([Type.Literal('sparsecell'), Type.Literal('bioimageio')], {
  description: 'Model file format: "sparsecell" (own archive, the default) or "bioimageio" (bioimage.io model package, spec 0.5, ONNX weights).',
});
const ProgressToken = Type.Optional(
  Type.Union([Type.String(), Type.Integer()], { description: 'If given, $/progress notifications for this request carry this token.' }),
);

const Prediction = Obj({
  labels: NdArray,
  polygons: Type.Array(PolygonRoi),
  modelVersion: Type.Integer({ minimum: 0 }),
  generation: Type.Integer({ minimum: 0, description: 'Newest label generation the model had trained on.' }),
  region: Region,
  z: Type.Optional(Type.Integer({ minimum: 0 })),
  truncated: Type.Optional(Type.Boolean({ description: 'True when more objects were found than maxObjects: the best-scoring maxObjects are returned.' })),
});

export const METHODS = {
  'server.info': {
    summary: 'Server name, version, tensor backend, limits and model families.',
    params: Obj({}),
    result: Obj({
      name: Type.Literal('sparsecell'),
      version: Type.String(),
      protocolVersion: Type.String(),
      backend: Obj({
        name: Type.String({
          description:
            'Tensor backend of the compute workers: "tensorflow" (libtensorflow through tfjs-node or tfjs-node-gpu) or "wasm"; "none" until the workers start (when `sparsecell serve` starts; in an embedded daemon, at the first model use).',
        }),
        simd: Type.Optional(Type.Boolean()),
        threads: Type.Optional(Type.Integer({ description: 'wasm: XNNPACK threads; tensorflow: intra-op threads (0 = chosen by TensorFlow).' })),
        interOpThreads: Type.Optional(Type.Integer({ description: 'tensorflow: inter-op threads (0 = chosen by TensorFlow).' })),
        gpu: Type.Optional(Type.Boolean({ description: 'tensorflow: TensorFlow runs training on a GPU device.' })),
        devices: Type.Optional(
          Type.Array(
            Obj({
              type: Type.Union([Type.Literal('CPU'), Type.Literal('GPU')]),
              name: Type.String(),
              cores: Type.Optional(Type.Integer({ description: 'CPU: logical cores.' })),
              memoryBytes: Type.Optional(Type.Number()),
            }),
            { description: 'Compute devices found on the machine (GPUs as nvidia-smi lists them).' },
          ),
        ),
        fallback: Type.Optional(Type.String({ description: 'Why a built native backend was not used (it failed to load).' })),
      }),
      limits: ServerLimits,
      families: Type.Array(FamilyName),
      starterModels: Type.Optional(Type.Array(StarterModel, { description: 'Built-in trained models (session.create {starter}).' })),
      recipe: Type.Optional(TrainRecipe),
      home: Type.Optional(Type.String({ description: 'The store folder; only reported to clients that authenticated with the token.' })),
      workers: Type.Optional(
        Type.Array(
          Obj({
            workerId: Type.String({ description: 'Id the worker logs under (host-pid-random unless given with --id).' }),
            host: Type.String(),
            backend: Type.String({ description: 'Tensor backend of the worker (as backend.name).' }),
            load: Type.Number({ description: 'Share of the last minute the worker spent on tasks (0..1).' }),
            jobsDone: Type.Integer({ description: 'Tasks (predictions, training slices, imports, exports) finished since it joined.' }),
            job: Type.Optional(
              Obj({
                kind: Type.String({ description: 'train (one slice), predict, import or export.' }),
                sessionId: SessionId,
                jobId: Type.Optional(Type.String()),
              }),
            ),
          }),
          {
            description:
              'A cluster front daemon (`sparsecell serve --redis URL`) only: the compute workers connected now (seen in the last 3 s), and what each is doing.',
          },
        ),
      ),
    }),
    errors: [],
  },
  'session.create': {
    summary: 'Create a session (images + sparse labels + one model). Returns its id; sessions persist across restarts.',
    params: Obj({
      name: Type.Optional(Type.String({ maxLength: 200 })),
      family: Type.Optional(FamilyName),
      config: Type.Optional(
        Type.Record(Type.String(), Type.Unknown(), {
          description:
            "Family config overrides (e.g. {nRays: 32}); checked by the family, a bad field gives -32602 at /config/<field>. StarDist: grid 1 (default) or 2 predicts on every grid-th pixel (StarDist's grid).",
        }),
      ),
      autoBackground: Type.Optional(Type.Boolean({ description: 'Treat a ring around annotated objects as background (off by default).' })),
      starter: Type.Optional(
        Type.String({
          pattern: '^[A-Za-z0-9_-]{1,64}$',
          description:
            'Begin from the built-in starter model of this name for the session family (server.info.starterModels), e.g. "nuclei": model.predict works at once (zero-shot) and model.train fine-tunes it.',
        }),
      ),
    }),
    result: Obj({ sessionId: SessionId, name: Type.String(), family: FamilyName, starter: Type.Optional(Type.String()) }),
    errors: ['ResourceLimit'],
  },
  'session.list': {
    summary: 'All sessions in the store, open or closed.',
    params: Obj({}),
    result: Obj({
      sessions: Type.Array(
        Obj({
          sessionId: SessionId,
          name: Type.String(),
          family: FamilyName,
          state: Type.String({ description: 'open (in memory) or closed (on disk only; any call naming it reopens it).' }),
          images: Type.Integer({ description: 'Number of images.' }),
          generation: Type.Integer({ description: 'Label generation (bumped by every accepted labels.update).' }),
        }),
      ),
      damaged: Type.Optional(
        Type.Array(Obj({ sessionId: SessionId, error: Type.String() }), {
          description: 'Sessions whose files on disk are damaged (session.get answers StorageCorrupt for them).',
        }),
      ),
    }),
    errors: [],
  },
  'session.get': {
    summary: 'Full state of a session. Attaches this connection to the session events (use after a reconnect).',
    params: Obj(SessionRef),
    result: SessionInfo,
    errors: ['SessionNotFound', 'StorageCorrupt'],
  },
  'session.close': {
    summary: 'Stop the session jobs and release its memory (data stays on disk and is reopened on next use); delete: true removes it.',
    params: Obj({
      ...SessionRef,
      delete: Type.Optional(
        Type.Boolean({
          description:
            'true: remove the session, its images, labels and model from the store. Absent or false: stop its jobs and free its memory; everything stays on disk and any later call naming the sessionId reopens it.',
        }),
      ),
    }),
    result: Obj({ closed: Type.Boolean(), deleted: Type.Boolean({ description: 'true when the session was removed from the store.' }) }),
    errors: ['SessionNotFound'],
  },
  'session.setView': {
    summary: 'Tell the daemon which region the person is looking at; live mode pushes prediction.updated for it.',
    params: Obj({
      ...SessionRef,
      imageId: ImageId,
      region: Region,
      z: Type.Optional(Type.Integer({ minimum: 0, description: 'Plane index of a ZYX or TYX image (default 0).' })),
      t: Type.Optional(Type.Integer({ minimum: 0, description: 'Alias of z for TYX images; z wins when both are given.' })),
    }),
    result: Obj({ ok: Type.Boolean() }),
    errors: ['SessionNotFound', 'ImageNotFound', 'ShapeMismatch'],
  },
  'image.add': {
    summary: 'Add an image to a session, as an NdArray or a base64 TIFF. Labels start all unlabeled.',
    params: Obj({
      ...SessionRef,
      image: Type.Union([NdArray, Obj({ tiff: Type.String({ description: 'Base64 TIFF file bytes.' }) })]),
      axes: Type.Optional(Axes),
      name: Type.Optional(Type.String({ maxLength: 200, description: 'Display name (e.g. the file name), reported by session.get.' })),
    }),
    result: Obj({ imageId: ImageId, shape: Type.Array(Type.Integer(), { description: 'Image shape in the order of axes.' }), axes: Axes }),
    errors: ['SessionNotFound', 'ShapeMismatch', 'ResourceLimit', 'InvalidImage'],
  },
  'labels.update': {
    summary: 'Replace the labels of an image (full layer) or of a patch at origin. Acknowledged only once durably on disk.',
    params: Obj({
      ...SessionRef,
      imageId: ImageId,
      labels: NdArray,
      encoding: LabelEncoding,
      origin: Type.Optional(
        Type.Array(Type.Integer({ minimum: 0 }), { minItems: 2, maxItems: 3, description: 'Patch origin [y, x] or [z, y, x]; absent = full layer.' }),
      ),
      kind: Type.Optional(Type.Union([Type.Literal('annotation'), Type.Literal('correction')], { description: 'correction pixels weigh more in the loss.' })),
    }),
    result: Obj(
      { generation: Type.Integer({ minimum: 1, description: 'The session generation this update created.' }), counts: Counts },
      'counts are of the whole label layer after the update, also when a patch was sent.',
    ),
    errors: ['SessionNotFound', 'ImageNotFound', 'ShapeMismatch', 'InvalidLabels', 'ResourceLimit'],
  },
  'labels.get': {
    summary: 'The current sparse labels of an image (signed int32, or offset1 uint16/int32).',
    params: Obj({ ...SessionRef, imageId: ImageId, encoding: Type.Optional(LabelEncoding) }),
    result: Obj(
      {
        generation: Type.Integer({ minimum: 0, description: 'Session generation of the last accepted update of this image (0: none).' }),
        labels: NdArray,
        encoding: LabelEncoding,
        counts: Counts,
      },
      'labels is the whole layer, shaped like the image without its channel axis ([H, W], or [Z or T, H, W]), deflate-encoded: ' +
        'int32 in signed form; uint16 in offset1 form (int32 when an instance id exceeds 65534).',
    ),
    errors: ['SessionNotFound', 'ImageNotFound'],
  },
  'model.train': {
    summary: 'Start training the session model on its sparse labels. Returns a job id at once; progress as $/progress with token = jobId.',
    params: Obj({
      ...SessionRef,
      family: Type.Optional(FamilyName),
      steps: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 1000000,
          description: 'Optimizer steps. With neither steps nor timeLimitS the job trains for the default time budget (10 min). Not used in live mode.',
        }),
      ),
      timeLimitS: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Stop after this many seconds even if steps remain.' })),
      config: Type.Optional(
        Type.Record(Type.String(), Type.Unknown(), { description: 'New family config; a different family or config starts from fresh weights.' }),
      ),
      options: Type.Optional(TrainOptions),
      live: Type.Optional(Type.Boolean({ description: 'Keep training as labels change until model.cancel, session.close or idle timeout.' })),
      reset: Type.Optional(
        Type.Boolean({ description: 'Start over instead of continuing: from the session starter model if it has one, else from fresh weights.' }),
      ),
      from: Type.Optional(
        Type.Union([Type.Literal('starter'), Type.Literal('scratch')], {
          description:
            'starter: fine-tune the family built-in starter model (the session starter, else "nuclei"); scratch: fresh weights (the session then has no starter). Absent: continue the current model.',
        }),
      ),
      resume: Type.Optional(
        Type.Boolean({
          description:
            'Continue the interrupted job of this session (same steps, live flag and options) from the last checkpoint; steps given here replace the remaining steps.',
        }),
      ),
    }),
    result: Obj(
      {
        jobId: JobId,
        resumedFrom: Type.Optional(Type.Integer({ minimum: 0, description: 'With resume: the step of the interrupted job the new job continues from.' })),
      },
      'Answered at once; $/progress {token: jobId} reports the steps and $/event job.finished the end.',
    ),
    errors: ['SessionNotFound', 'SessionBusy', 'InvalidLabels', 'ResourceLimit', 'JobNotFound', 'StorageCorrupt'],
    progress: true,
  },
  'model.configure': {
    summary: 'Change training hyper-parameters of the session, also while a (live) training runs.',
    params: Obj({ ...SessionRef, options: TrainOptions }),
    result: Obj({ options: TrainOptions }),
    errors: ['SessionNotFound'],
  },
  'model.predict': {
    summary: 'Predict instances for an image (or a region / z-slice). Answers even while training runs.',
    params: Obj({
      ...SessionRef,
      imageId: ImageId,
      region: Type.Optional(Region),
      z: Type.Optional(Type.Integer({ minimum: 0, description: 'Plane index for ZYX and TYX images (for TYX, the time point; default 0).' })),
      probThresh: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      nmsThresh: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      maxObjects: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 1000000,
          description: 'Return at most this many objects, best scores first (default server.info.limits.maxObjects); truncated tells when more were found.',
        }),
      ),
      progressToken: ProgressToken,
    }),
    result: Prediction,
    errors: ['SessionNotFound', 'ImageNotFound', 'ModelNotTrained', 'ShapeMismatch', 'RequestCancelled', 'StorageCorrupt'],
  },
  'model.suggest': {
    summary:
      'What to annotate next: the objects and areas of a view that would teach the model most, best first. Never what is already labeled. Answers while training runs.',
    params: Obj({
      ...SessionRef,
      imageId: Type.Optional(ImageId),
      region: Type.Optional(Region),
      z: Type.Optional(Type.Integer({ minimum: 0, description: 'Plane index for ZYX and TYX images (default: the view plane, else 0).' })),
      count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Most suggestions returned (default 10).' })),
      probThresh: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      nmsThresh: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      tta: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 3,
          description: 'Flipped predictions compared with the plain one (default 1: turned 180 degrees; 0 turns the uncertain reason off).',
        }),
      ),
      reasons: Type.Optional(Type.Array(SuggestionReason, { minItems: 1, maxItems: 3, uniqueItems: true, description: 'Reasons to use (default all).' })),
    }),
    result: Obj(
      {
        modelVersion: Type.Integer({ minimum: 0 }),
        generation: Type.Integer({ minimum: 0, description: 'Newest label generation the model had trained on.' }),
        imageId: ImageId,
        region: Region,
        z: Type.Optional(Type.Integer({ minimum: 0 })),
        suggestions: Type.Array(Suggestion),
      },
      'Without imageId: the image of the session view (session.setView), else the first image; without region: the view region on that image, else the whole plane.',
    ),
    errors: ['SessionNotFound', 'ImageNotFound', 'ModelNotTrained', 'ShapeMismatch', 'RequestCancelled', 'StorageCorrupt'],
  },
  'model.cancel': {
    summary: 'Cancel a job (training or prediction). cancelled = false when it had already ended.',
    params: Obj({ jobId: JobId }),
    result: Obj({ cancelled: Type.Boolean(), state: Type.String({ description: 'The job state after the call: done, cancelled or failed.' }) }),
    errors: ['JobNotFound'],
  },
  'model.export': {
    summary:
      "The trained model as one base64 archive: sparsecell's own (weights, config, normalisation; the default) or a bioimage.io model package (zip: rdf.yaml, ONNX weights, test tensors, cover, README).",
    params: Obj({
      ...SessionRef,
      format: Type.Optional(ModelFormat),
      imageId: Type.Optional(ImageId),
      name: Type.Optional(
        Type.String({
          minLength: 5,
          maxLength: 128,
          pattern: '^[A-Za-z0-9_+\\- ()]+$',
          description: 'bioimageio: the model name (letters, digits, spaces, _+-()).',
        }),
      ),
      description: Type.Optional(Type.String({ maxLength: 1024, description: 'bioimageio: one-sentence description.' })),
      authors: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^/]*$' }), {
          maxItems: 50,
          description: 'bioimageio: author names (default "sparsecell user").',
        }),
      ),
      license: Type.Optional(
        Type.Union(
          BIOIMAGEIO_LICENSES.map((l) => Type.Literal(l)),
          { description: 'bioimageio: SPDX license id (default CC-BY-4.0).' },
        ),
      ),
    }),
    result: Obj({
      model: Type.String({ description: 'Base64 archive or package (model.import and the CLI read it).' }),
      family: FamilyName,
      modelVersion: Type.Integer(),
      bytes: Type.Integer({ description: 'Archive size before base64.' }),
      format: Type.Optional(ModelFormat),
    }),
    errors: ['SessionNotFound', 'ModelNotTrained', 'ImageNotFound', 'InvalidModel'],
  },
  'model.import': {
    summary:
      'Load a model into the session: a sparsecell archive (from model.export or the CLI) or a bioimage.io package exported by sparsecell (ONNX weights; other architectures are refused with InvalidModel).',
    params: Obj({ ...SessionRef, model: Type.String({ description: 'Base64 archive.' }), format: Type.Optional(ModelFormat) }),
    result: Obj({
      family: FamilyName,
      modelVersion: Type.Integer({ description: 'Continues the lineage: the archive model version (or the session one, plus 1, when that is higher).' }),
    }),
    errors: ['SessionNotFound', 'InvalidModel', 'SessionBusy'],
  },
  'rpc.discover': {
    summary: 'The OpenRPC document of this server (protocol/openrpc.json).',
    params: Obj({}),
    result: Type.Object({}, { additionalProperties: true }),
    errors: [],
  },
} satisfies Record<string, MethodSpec>;

export type MethodName = keyof typeof METHODS;
export type ParamsOf<M extends MethodName> = Static<(typeof METHODS)[M]['params']>;
export type ResultOf<M extends MethodName> = Static<(typeof METHODS)[M]['result']>;
export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];
export type PredictionResult = Static<typeof Prediction>;
