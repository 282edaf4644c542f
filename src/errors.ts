// Typed errors with a stable code and an HTTP-like status, so every layer (SMTP replies, CLI exit
// codes, later the JSON API) maps them the same way.
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 500,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super('not_found', message, 404);
  }
}

export class ValidationError extends AppError {
  constructor(message: string) {
    super('invalid', message, 422);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', message, 409);
  }
}
