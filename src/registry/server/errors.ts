/**
 * The OCI distribution spec's error codes, each with the HTTP status distribution answers with.
 * A RegistryError becomes `{"errors":[{"code","message","detail"}]}` on the wire.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: [404, 'blob unknown to registry'],
  BLOB_UPLOAD_INVALID: [400, 'blob upload invalid'],
  BLOB_UPLOAD_UNKNOWN: [404, 'blob upload unknown to registry'],
  DIGEST_INVALID: [400, 'provided digest did not match uploaded content'],
  MANIFEST_BLOB_UNKNOWN: [400, 'manifest references a manifest or blob unknown to registry'],
  MANIFEST_INVALID: [400, 'manifest invalid'],
  MANIFEST_UNKNOWN: [404, 'manifest unknown to registry'],
  NAME_INVALID: [400, 'invalid repository name'],
  NAME_UNKNOWN: [404, 'repository name not known to registry'],
  SIZE_INVALID: [400, 'provided length did not match content length'],
  UNAUTHORIZED: [401, 'authentication required'],
  DENIED: [403, 'requested access to the resource is denied'],
  UNSUPPORTED: [405, 'the operation is unsupported'],
  TOOMANYREQUESTS: [429, 'too many requests'],
  PAGINATION_NUMBER_INVALID: [400, 'invalid number of results requested'],
  UNKNOWN: [500, 'unknown error'],
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RegistryError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly detail?: unknown,
    status?: number,
  ) {
    super(message ?? ERROR_CODES[code][1]);
    this.name = 'RegistryError';
    this.status = status ?? ERROR_CODES[code][0];
  }

  body(): string {
    const e: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) e.detail = this.detail;
    return JSON.stringify({ errors: [e] });
  }
}
