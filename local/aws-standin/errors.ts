/**
 * Errors the stand-in returns, named exactly as AWS names them so that SDK clients raise the same
 * exception classes (`NotFoundException`, `ResourceNotFoundException`, ...) as against real AWS.
 */

/** An error that goes over the wire as awsJson1_1: a 4xx/5xx status, `x-amzn-ErrorType` and `{__type, message}`. */
export class AwsError extends Error {
  constructor(
    /** AWS's error code, e.g. `NotFoundException`. */
    readonly type: string,
    message: string,
    /** HTTP status; AWS JSON services answer client errors with 400. */
    readonly status: number = statusFor(type),
  ) {
    super(message);
    this.name = type;
  }
}

/** Server-side faults are 5xx (the SDK retries them); everything else a client error. */
export function statusFor(type: string): number {
  switch (type) {
    case 'KMSInternalException':
    case 'InternalServiceError':
    case 'InternalFailure':
    case 'DependencyTimeoutException':
      return 500;
    case 'ServiceUnavailableException':
    case 'ServiceUnavailable':
      return 503;
    // AWS JSON services answer most auth failures with 400 too; only a missing token is a 403.
    case 'MissingAuthenticationTokenException':
      return 403;
    default:
      return 400;
  }
}

export const validation = (message: string): AwsError => new AwsError('ValidationException', message);
