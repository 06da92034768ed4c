/**
 * A command cannot start from what it was given (flags, config, state directory, kubeconfig,
 * certificates); the message says what to fix. `usage` ones (a bad config) exit 2 from serve, the
 * others 1; replay and audit exit 2 on any.
 */
export class SetupError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}
