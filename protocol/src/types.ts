/**
 * Wire types of the sparsecell protocol: one TypeBox schema per struct, from which the TypeScript types,
 * the runtime validators, openrpc.json and protocol.schema.json are all derived.
 * Compatibility rule: new fields are optional; removing or changing a field needs a new method name.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Id = (description: string) => Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description });

export const Dtype = Type.Union([Type.Literal('uint8'), Type.Literal('uint16'), Type.Literal('int16'), Type.Literal('int32'), Type.Literal('float32')], {
  $id: 'Dtype',
  description: 'Element type; data is little-endian.',
});
export type Dtype = Static<typeof Dtype>;

export const NdArray = Type.Object(
  {
    dtype: Dtype,
    shape: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, maxItems: 4, description: 'Dimensions, slowest first (C order).' }),
    data: Type.String({ description: 'Base64 of the little-endian element bytes (after deflate when encoding = "deflate").' }),
    encoding: Type.Optional(Type.Union([Type.Literal('raw'), Type.Literal('deflate')], { description: 'Default "raw". "deflate" = zlib stream.' })),
  },
  { $id: 'NdArray', additionalProperties: false, description: 'An n-dimensional array.' },
);
export type NdArray = Static<typeof NdArray>;

export const Axes = Type.Union([Type.Literal('YX'), Type.Literal('ZYX'), Type.Literal('TYX'), Type.Literal('YXC')], {
  $id: 'Axes',
  description: 'Axis order of an image. Labels cover the spatial axes (all but C).',
});
export type Axes = Static<typeof Axes>;

export const LabelEncoding = Type.Union([Type.Literal('signed'), Type.Literal('offset1')], {
  $id: 'LabelEncoding',
  description: 'signed: -1 unlabeled, 0 background, k>0 instance k. offset1: 0 unlabeled, 1 background, k+1 instance k (napari/Fiji label layers).',
});
export type LabelEncoding = Static<typeof LabelEncoding>;

export const FamilyName = Type.Union([Type.Literal('stardist'), Type.Literal('cellpose'), Type.Literal('elephant')], {
  $id: 'FamilyName',
  description: 'Model family: stardist (star-convex polygons), cellpose (flows), elephant (bg/border/centre).',
});
export type FamilyName = Static<typeof FamilyName>;

export const SessionId = Id('Session id (returned by session.create).');
export const ImageId = Id('Image id within a session.');
export const JobId = Id('Job id; also the $/progress token of the job.');

export const Counts = Type.Object(
  {
    unlabeled: Type.Integer({ minimum: 0 }),
    background: Type.Integer({ minimum: 0 }),
    objects: Type.Integer({ minimum: 0, description: 'Number of distinct instance ids.' }),
  },
  { $id: 'Counts', additionalProperties: false, description: 'Pixel counts of a label layer.' },
);
export type Counts = Static<typeof Counts>;

export const Region = Type.Array(Type.Integer({ minimum: 0 }), {
  minItems: 4,
  maxItems: 4,
  $id: 'Region',
  description: '[y0, x0, y1, x1], half-open (y1, x1 exclusive), in pixels of the image plane.',
});
export type Region = Static<typeof Region>;

export const ImageInfo = Type.Object(
  {
    imageId: ImageId,
    name: Type.Optional(Type.String()),
    shape: Type.Array(Type.Integer({ minimum: 1 })),
    axes: Axes,
    dtype: Dtype,
    generation: Type.Integer({ minimum: 0, description: 'Session generation of the last accepted label update of this image (0: none).' }),
    counts: Counts,
  },
  { $id: 'ImageInfo', additionalProperties: false },
);
export type ImageInfo = Static<typeof ImageInfo>;

export const JobState = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('cancelled'), Type.Literal('failed'), Type.Literal('interrupted')],
  {
    $id: 'JobState',
    description: 'interrupted: the daemon stopped (crash, kill -9) while the job ran; model.train {resume: true} continues it from the last checkpoint.',
  },
);
export const JobInfo = Type.Object(
  {
    jobId: JobId,
    kind: Type.Union([Type.Literal('train'), Type.Literal('predict')]),
    state: JobState,
    live: Type.Optional(Type.Boolean()),
    step: Type.Optional(Type.Integer({ minimum: 0 })),
    steps: Type.Optional(Type.Integer({ minimum: 0 })),
    loss: Type.Optional(Type.Number()),
    error: Type.Optional(Type.String()),
  },
  { $id: 'JobInfo', additionalProperties: false },
);
export type JobInfo = Static<typeof JobInfo>;

export const SessionInfo = Type.Object(
  {
    sessionId: SessionId,
    name: Type.String(),
    family: FamilyName,
    config: Type.Record(Type.String(), Type.Unknown(), { description: 'Family config as given at creation (defaults filled in by the model).' }),
    createdAt: Type.String({ description: 'ISO 8601 time.' }),
    generation: Type.Integer({ minimum: 0, description: 'Bumped by every accepted label update.' }),
    state: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
    images: Type.Array(ImageInfo),
    modelVersion: Type.Optional(Type.Integer({ minimum: 0, description: 'Absent until a model exists.' })),
    trainedGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'Newest label generation the model has trained on.' })),
    jobs: Type.Array(JobInfo),
    autoBackground: Type.Optional(Type.Boolean()),
    warnings: Type.Optional(
      Type.Array(Type.Object({ imageId: Type.Optional(Type.String()), message: Type.String() }, { additionalProperties: false }), {
        description:
          'Damage found on disk when the session was opened (e.g. a label journal record that failed its checksum: that update is lost, the others are kept).',
      }),
    ),
    starter: Type.Optional(Type.String({ description: 'Name of the built-in starter model the session model began from (absent: trained from scratch).' })),
    adaptation: Type.Optional(
      Type.Object(
        {
          scale: Type.Number({ exclusiveMinimum: 0, description: 'Images are resampled by this factor before the network (predictions are mapped back).' }),
          invert: Type.Boolean({ description: 'Intensities are inverted after normalisation (dark objects on a bright background).' }),
        },
        {
          additionalProperties: false,
          description:
            'How the starter model was adapted to these images, chosen from the labels before the first fine-tuning step (README "Starter models"); absent until then.',
        },
      ),
    ),
  },
  { $id: 'SessionInfo', additionalProperties: false },
);
export type SessionInfo = Static<typeof SessionInfo>;

export const PolygonRoi = Type.Object(
  {
    id: Type.Integer({ minimum: 1, description: 'Instance id in the returned label image.' }),
    score: Type.Number(),
    points: Type.Array(Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }), { description: '[[y, x], ...] vertices in image pixels.' }),
  },
  { $id: 'PolygonRoi', additionalProperties: false },
);
export type PolygonRoi = Static<typeof PolygonRoi>;

export const SuggestionReason = Type.Union([Type.Literal('uncertain'), Type.Literal('near-threshold'), Type.Literal('unlike-labeled')], {
  $id: 'SuggestionReason',
  description:
    'uncertain: the prediction disagrees with its flipped (test-time-augmented) versions, or only a flipped version found the object; ' +
    'near-threshold: the object probability is barely above the threshold; unlike-labeled: an area far from every label whose intensity and texture are unlike the labeled parts.',
});
export type SuggestionReason = Static<typeof SuggestionReason>;

export const Suggestion = Type.Object(
  {
    imageId: Type.String(),
    region: Region,
    z: Type.Optional(Type.Integer({ minimum: 0 })),
    kind: Type.Union([Type.Literal('object'), Type.Literal('area')], { description: 'object: one predicted (or missed) object; area: a block to look at.' }),
    reason: SuggestionReason,
    score: Type.Number({ minimum: 0, maximum: 1, description: 'How much labeling it would teach the model (higher first).' }),
    polygon: Type.Optional(
      Type.Array(Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }), { description: 'object: the predicted outline, [[y, x], ...] in image pixels.' }),
    ),
  },
  { $id: 'Suggestion', additionalProperties: false, description: 'Something to annotate next; region is its bounding box in image pixels.' },
);
export type Suggestion = Static<typeof Suggestion>;

export const TrainOptions = Type.Object(
  {
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    patchSize: Type.Optional(
      Type.Integer({
        minimum: 16,
        maximum: 1024,
        description: "Square training patch side, a multiple of grid x 2^depth (grid: StarDist's, else 1); -32602 otherwise.",
      }),
    ),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    seed: Type.Optional(Type.Integer()),
    augment: Type.Optional(Type.Boolean()),
    pushEverySteps: Type.Optional(Type.Integer({ minimum: 1, description: 'Live mode: push prediction.updated after this many steps (default 20).' })),
    pushEveryS: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Live mode: ... or after this many seconds (default 5), and after each label update.' }),
    ),
    suggestEveryS: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          'Live mode: push suggestions.updated after a prediction push at most once per this many seconds (default 10; 0 = never). While a label edit on the same compute worker waits for its prediction push, suggestions wait too, up to 3 times this interval.',
      }),
    ),
  },
  { $id: 'TrainOptions', additionalProperties: false, description: 'Training hyper-parameters (defaults in server/training/config.ts).' },
);
export type TrainOptions = Static<typeof TrainOptions>;

export const ServerLimits = Type.Object(
  {
    maxMessageBytes: Type.Integer(),
    maxArrayElements: Type.Integer(),
    maxSessions: Type.Integer(),
    maxBatch: Type.Optional(Type.Integer({ description: 'Most requests in one JSON-RPC batch; a longer batch is refused as a whole.' })),
    maxImagesPerSession: Type.Optional(Type.Integer()),
    maxObjects: Type.Optional(Type.Integer({ description: 'Default cap on the objects of one model.predict (its maxObjects param).' })),
  },
  { $id: 'ServerLimits', additionalProperties: false },
);

export const StarterScores = Type.Object(
  {
    accuracy05: Type.Number({ description: 'accuracy at IoU 0.5 on the held-out test images' }),
    f1: Type.Number({ description: 'F1 at IoU 0.5' }),
    pq: Type.Number({ description: 'panoptic quality' }),
    testImages: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { $id: 'StarterScores', additionalProperties: false, description: 'Scores of a starter model from its model card.' },
);

export const StarterModel = Type.Object(
  {
    name: Type.String({ description: 'Name to pass as session.create {starter} (e.g. "nuclei").' }),
    family: FamilyName,
    description: Type.String(),
    scores: StarterScores,
  },
  { $id: 'StarterModel', additionalProperties: false, description: 'A built-in trained model a session can start from (models/ of the package).' },
);
export type StarterModel = Static<typeof StarterModel>;

export const TrainRecipe = Type.Object(
  {
    unetDepth: Type.Integer(),
    unetFilters: Type.Integer(),
    batchSize: Type.Integer(),
    patchSize: Type.Integer(),
    learningRate: Type.Number(),
    lrFinal: Type.Number(),
    finalFraction: Type.Number(),
    budgetS: Type.Number({ description: 'model.train without steps or timeLimitS trains for this many seconds.' }),
    live: Type.Object({ batchSize: Type.Integer(), patchSize: Type.Integer(), learningRate: Type.Number() }, { additionalProperties: false }),
    finetune: Type.Object(
      {
        learningRate: Type.Number(),
        lrFinal: Type.Number(),
        warmupSteps: Type.Integer(),
        freezeEncoderSteps: Type.Integer(),
        liveLearningRate: Type.Number(),
        liveWarmupSteps: Type.Optional(Type.Integer({ description: 'Live mode from a starter: steps of linear warm-up.' })),
        liveFreezeEncoderSteps: Type.Optional(Type.Integer({ description: 'Live mode from a starter: steps with the encoder frozen.' })),
      },
      { additionalProperties: false, description: 'Used instead of the above when the model began from a starter (live: the live* values).' },
    ),
  },
  { $id: 'TrainRecipe', additionalProperties: false, description: 'The training defaults (server/recipe.ts); clients show these instead of their own.' },
);
export type TrainRecipe = Static<typeof TrainRecipe>;

/** All named structs, for protocol.schema.json. */
export const STRUCTS: TSchema[] = [
  Dtype,
  NdArray,
  Axes,
  LabelEncoding,
  FamilyName,
  Counts,
  Region,
  ImageInfo,
  JobState,
  JobInfo,
  SessionInfo,
  PolygonRoi,
  SuggestionReason,
  Suggestion,
  TrainOptions,
  ServerLimits,
  StarterScores,
  StarterModel,
  TrainRecipe,
];
