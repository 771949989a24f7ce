/**
 * The load test's one error class (the same shape as gateway/errors.ts: a literal `code`
 * and a `cause`). The load test is a tool beside the product, so it does not import the
 * gateway's error list; main.ts maps these codes to exit codes.
 */
export type LoadtestErrorCode =
  | 'USAGE' // bad flags: exit 2
  | 'PROFILE_INVALID' // a profile file does not parse or validate
  | 'SETUP_FAILED' // a port, address, DNS server, work dir or simulator could not be set up
  | 'GATEWAY_FAILED' // the Sluice node did not start, or is not reachable at --target
  | 'INTERRUPTED'; // Ctrl-C / SIGTERM

export class LoadtestError extends Error {
  readonly code: LoadtestErrorCode;
  constructor(code: LoadtestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'LoadtestError';
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
