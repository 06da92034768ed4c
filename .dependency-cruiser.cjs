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
      name: 'kube-helpers-below-modules',
      comment: 'policies/kube/ holds the Kubernetes helpers the modules share: it imports no module',
      severity: 'error',
      from: { path: '(^|/)policies/kube/' },
      to: { path: '(^|/)policies/', pathNot: '(^|/)policies/(kube/|types\\.ts$)' },
    },
    {
      name: 'certs-below-server',
      comment: 'certs/ runs under the server and the CLI alike: it is handed a Kubernetes client and a file watch, and imports nothing from server/',
      severity: 'error',
      from: { path: '^certs/' },
      to: { path: '^server/' },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
  },
};
