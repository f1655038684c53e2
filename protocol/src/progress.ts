/**
 * Server -> client notifications ($/progress, $/event, $/heartbeat) and the client -> server
 * notification $/cancelRequest.
 */
import { Type, type Static } from '@sinclair/typebox';
import { NdArray, PolygonRoi, Region, Suggestion } from './types.js';

export const ProgressParams = Type.Object(
  {
    token: Type.Union([Type.String(), Type.Integer()], { description: 'A jobId, or the progressToken the caller passed.' }),
    kind: Type.Union([Type.Literal('begin'), Type.Literal('report'), Type.Literal('end')], { description: 'begin once, report as work advances, end once.' }),
    title: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    percentage: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description: 'Training: how far the job is, by its steps or its time limit (absent in live mode). Prediction with a progressToken: tiles done.',
      }),
    ),
    step: Type.Optional(Type.Integer({ minimum: 0, description: 'Training steps done.' })),
    steps: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Training steps planned (for a time-limited job: expected at the current rate; 0 in live mode).' }),
    ),
    loss: Type.Optional(Type.Number({ description: 'Masked training loss of the latest step.' })),
    stepsPerS: Type.Optional(Type.Number()),
    etaS: Type.Optional(Type.Number({ description: 'Estimated seconds to go.' })),
    state: Type.Optional(
      Type.String({ description: 'Only on end: done, cancelled, failed (then error says why) or interrupted (the daemon stopped during the job).' }),
    ),
    error: Type.Optional(Type.String()),
  },
  { $id: 'ProgressParams', additionalProperties: false },
);
export type ProgressParams = Static<typeof ProgressParams>;

export const PredictionUpdatedEvent = Type.Object(
  {
    type: Type.Literal('prediction.updated'),
    sessionId: Type.String(),
    imageId: Type.String(),
    region: Region,
    z: Type.Optional(Type.Integer({ minimum: 0 })),
    generation: Type.Integer({ minimum: 0, description: 'Newest label generation the model had trained on.' }),
    modelVersion: Type.Integer({ minimum: 0 }),
    labels: NdArray,
    polygons: Type.Array(PolygonRoi),
  },
  { $id: 'PredictionUpdatedEvent', additionalProperties: false },
);
export const SuggestionsUpdatedEvent = Type.Object(
  {
    type: Type.Literal('suggestions.updated'),
    sessionId: Type.String(),
    imageId: Type.String(),
    region: Region,
    z: Type.Optional(Type.Integer({ minimum: 0 })),
    modelVersion: Type.Integer({ minimum: 0 }),
    suggestions: Type.Array(Suggestion),
  },
  {
    $id: 'SuggestionsUpdatedEvent',
    additionalProperties: false,
    description: 'Live mode: model.suggest for the view, sent after a prediction.updated, at most once per TrainOptions.suggestEveryS (default 10 s).',
  },
);
export const SimpleEvent = Type.Object(
  {
    type: Type.Union([Type.Literal('model.updated'), Type.Literal('session.closed'), Type.Literal('labels.updated'), Type.Literal('job.finished')]),
    sessionId: Type.String(),
    imageId: Type.Optional(Type.String()),
    jobId: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    modelVersion: Type.Optional(Type.Integer()),
    state: Type.Optional(Type.String()),
  },
  { $id: 'SimpleEvent', additionalProperties: false },
);
export const EventParams = Type.Union([PredictionUpdatedEvent, SuggestionsUpdatedEvent, SimpleEvent], { $id: 'EventParams' });
export type EventParams = Static<typeof EventParams>;

export const HeartbeatParams = Type.Object({ serverTime: Type.String() }, { $id: 'HeartbeatParams', additionalProperties: false });
export const CancelRequestParams = Type.Object(
  { id: Type.Union([Type.String(), Type.Integer()]) },
  { $id: 'CancelRequestParams', additionalProperties: false },
);

export const NOTIFICATIONS = {
  '$/progress': { direction: 'server->client', params: ProgressParams, summary: 'Progress of a job or of a request that was given a progressToken.' },
  '$/event': {
    direction: 'server->client',
    params: EventParams,
    summary: 'Session events (prediction.updated, suggestions.updated, model.updated, session.closed, ...), sent to every connection attached to the session.',
  },
  '$/heartbeat': { direction: 'server->client', params: HeartbeatParams, summary: 'Sent periodically so clients can detect a dead daemon.' },
  '$/cancelRequest': { direction: 'client->server', params: CancelRequestParams, summary: 'Cancel the in-flight request with this id; it answers -32800.' },
} as const;
