// Typed errors with a stable code and an HTTP-like status, so every layer (SMTP replies, CLI exit
// codes, the JSON API) maps them the same way. `details` travel to API clients as extra fields
// of the error (e.g. the id of the customer who owns an address).
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(
    code: string,
    message: string,
    status = 500,
    options?: ErrorOptions & { details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.code = code;
    this.status = status;
    this.name = new.target.name;
    this.details = options?.details;
  }

  readonly details?: Record<string, unknown>;
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super('not_found', message, 404);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid', message, 422, { details });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, 409, { details });
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super('forbidden', message, 403);
  }
}

/**
 * Whether a database error is PostgreSQL's unique violation (SQLSTATE 23505), optionally of one
 * constraint: the answer to "someone else inserted it first".
 */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
