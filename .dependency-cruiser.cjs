// Import-cycle check (test/import-cycles.test.ts). swc parses the TypeScript (dependency-cruiser
// cannot use the TypeScript 7 compiler), and tsPreCompilationDeps keeps type-only imports: a cycle
// through types alone still ties the modules together for a reader and breaks at the first value import.
module.exports = {
  forbidden: [{ name: 'no-circular', severity: 'error', from: {}, to: { circular: true } }],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
  },
};
