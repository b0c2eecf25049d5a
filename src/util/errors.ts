/** An error meant for the user: its message is printed as is, and `exitCode` follows docker's codes. */
export class BerthError extends Error {
  constructor(
    message: string,
    readonly exitCode = 125,
    readonly status: 'notFound' | 'conflict' | 'invalid' | 'internal' = 'internal',
  ) {
    super(message);
    this.name = 'BerthError';
  }
}

export class NotFoundError extends BerthError {
  constructor(message: string) {
    super(message, 125, 'notFound');
  }
}

export class ConflictError extends BerthError {
  constructor(message: string) {
    super(message, 125, 'conflict');
  }
}

export class InvalidArgumentError extends BerthError {
  constructor(message: string) {
    super(message, 125, 'invalid');
  }
}
