/**
 * Error codes: JSON-RPC 2.0 standard codes plus sparsecell application codes (-32801...).
 * Every error carries a human-readable message; invalid params carry data: [{path, message}].
 */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  RequestCancelled: -32800,
  SessionNotFound: -32801,
  ImageNotFound: -32802,
  ShapeMismatch: -32803,
  InvalidLabels: -32804,
  ResourceLimit: -32805,
  ModelNotTrained: -32806,
  SessionBusy: -32807,
  JobNotFound: -32808,
  InvalidModel: -32809,
  InvalidImage: -32810,
  // -32811 (NotImplemented, a placeholder from before the model methods existed, never sent) is retired: not reused
  StorageCorrupt: -32812,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

export const ERROR_DESCRIPTIONS: Record<ErrorCodeName, string> = {
  ParseError: 'The frame is not valid JSON.',
  InvalidRequest: 'The JSON is not a valid JSON-RPC 2.0 request.',
  MethodNotFound: 'No such method; rpc.discover lists them.',
  InvalidParams: 'Params do not match the method schema; data = [{path, message}] names each bad field.',
  InternalError: 'Unexpected server failure; logged with the request id.',
  RequestCancelled: 'The request was cancelled by $/cancelRequest or model.cancel.',
  SessionNotFound: 'No session with this id (never created, or deleted).',
  ImageNotFound: 'No image with this id in the session.',
  ShapeMismatch: 'Array shape does not match the image, the patch does not fit, or data length disagrees with shape and dtype.',
  InvalidLabels: 'Label values are outside the encoding (e.g. below -1 in signed form) or of a non-integer dtype.',
  ResourceLimit: 'A configured limit (array elements, message size, sessions, memory) would be exceeded.',
  ModelNotTrained: 'The session has no trained model yet: run model.train or model.import first.',
  SessionBusy: 'The session already runs a conflicting job (e.g. a second training).',
  JobNotFound: 'No job with this id.',
  InvalidModel: 'The model archive cannot be read or does not fit the session.',
  InvalidImage: 'The image cannot be decoded (bad TIFF, unsupported dtype or axes).',
  StorageCorrupt:
    'Data of this session on disk is damaged (session.json, a snapshot or the model checkpoint); the message names what. Other sessions are unaffected.',
};

export interface ParamIssue {
  path: string;
  message: string;
}
