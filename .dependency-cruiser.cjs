// Import rules, checked by test/import-cycles.test.ts. swc parses the TypeScript (dependency-cruiser
// cannot use the TypeScript 7 compiler); tsPreCompilationDeps keeps type-only imports, because a
// cycle through types alone still ties the modules together and turns into a load-order cycle at
// the first value import added along it.
module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'no import cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'commands-on-top',
      comment: 'the commands use the rest; nothing below imports them',
      severity: 'error',
      from: { pathNot: '^server/commands/' },
      to: { path: '^server/commands/' },
    },
    {
      name: 'certs-below-server',
      comment: 'certs/ runs under the server and the CLI alike; what it needs from below lives in platform/',
      severity: 'error',
      from: { path: '^certs/' },
      to: { path: '^server/' },
    },
    {
      name: 'platform-at-the-bottom',
      comment: 'platform/ (the Kubernetes client, file watches) is the floor: it imports only policies/types',
      severity: 'error',
      from: { path: '^platform/' },
      to: { path: '^(server|certs|manifests)/' },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
  },
};
