// `tenantguard serve` (SPEC 10): the flags become the config's highest-precedence source; the
// webhook runs (server/webhook-server.ts) until SIGTERM or SIGINT, then drains and stops.
import { CONFIG_ENV_VARS, type ConfigFlags } from '../config-load.js';
import { SetupError } from '../setup/setup-error.js';
import { startServer, type RunningServer } from '../webhook-server.js';
import type { CliCommand, CliValues } from './command.js';

const USAGE = `Usage: tenantguard serve [options]

Runs the admission webhook: POST /mutate, POST /validate, GET /healthz, GET /readyz, GET /metrics.

Options:
  --config FILE        server config (YAML); reloaded when it changes
  --state DIR          serve from a snapshot of cluster state (YAML/JSON objects)
  --kubeconfig FILE    serve from the live cluster this kubeconfig points to
  --host HOST          listen address (default 0.0.0.0)
  --port N             HTTPS port (default 8443; 0 picks a free one)
  --cert FILE          serving certificate (PEM); reloaded when it changes
  --key FILE           its private key (PEM)
  --client-ca FILE     require client certificates issued by this CA (mutual TLS)
  --metrics-port N     serve /metrics on this plain-HTTP port instead of the HTTPS one
  --log-level LEVEL    fatal, error, warn, info, debug, trace or silent
  --namespace NAME     the webhook's own namespace (always exempt)
  -h, --help           show this help

Without --state, a kubeconfig (--kubeconfig, KUBECONFIG, or running in a pod) selects the live
cluster; with neither, the embedded example state is served. Without --cert/--key an in-memory
development certificate for localhost and 127.0.0.1 is generated.
Precedence: defaults < config file < environment < flags. Environment: ${CONFIG_ENV_VARS.join(', ')},
and the standard OTEL_* variables for tracing.`;

const FLAG_NAMES: Array<keyof ConfigFlags> = ['config', 'state', 'kubeconfig', 'host', 'port', 'cert', 'key', 'client-ca', 'metrics-port', 'log-level', 'namespace'];

export function flagsOf(values: CliValues): ConfigFlags {
  const flags: ConfigFlags = {};
  for (const name of FLAG_NAMES) {
    const v = values[name];
    if (typeof v === 'string') flags[name] = v;
  }
  return flags;
}

export const serveCommand: CliCommand = {
  usage: USAGE,
  options: Object.fromEntries(FLAG_NAMES.map((name) => [name, { type: 'string' as const }])),
  async run(values, _positionals, io) {
    let server: RunningServer;
    try {
      server = await startServer({ flags: flagsOf(values) });
    } catch (err) {
      if (!(err instanceof SetupError)) throw err;
      io.stderr(`tenantguard serve: ${err.message}`);
      return err.usage ? 2 : 1;
    }
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    server.logger.info({ signal, graceMs: server.config().shutdownGraceMs }, `${signal} received, shutting down`);
    // A second signal while draining means the operator wants out now.
    process.once(signal, () => process.exit(1));
    await server.stop();
    server.logger.info('stopped');
    return 0;
  },
};
