// mjml ships no types; this is the part of its API we use.
declare module 'mjml' {
  export interface MjmlError {
    line: number;
    message: string;
    tagName: string;
    formattedMessage: string;
  }
  export interface MjmlResult {
    html: string;
    errors: MjmlError[];
  }
  /** Strict validation throws an Error carrying `errors`. */
  export default function mjml2html(input: string, options?: Record<string, unknown>): Promise<MjmlResult>;
}
