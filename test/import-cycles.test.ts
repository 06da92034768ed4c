// The import rules of .dependency-cruiser.cjs (no cycles; nothing imports server/commands/; the
// Kubernetes helpers in policies/kube/ import no policy module; certs/ imports nothing from server/)
// hold for server/, policies/ and certs/; and the check does see a cycle made of type-only imports,
// a kube helper that imports a module, and a certs/ module that reaches into server/.
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { cruise, type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import t from 'tap';

const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as {
  forbidden: IForbiddenRuleType[];
  options: ICruiseOptions;
};

async function violations(dirs: string[]): Promise<{ cruised: number; violations: string[] }> {
  const result = await cruise(dirs, { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true });
  const output = result.output as ICruiseResult;
  return {
    cruised: output.summary.totalCruised,
    violations: output.summary.violations.map((v) => `${v.rule.name}: ${[v.from, ...(v.cycle ?? []).map((c) => c.name)].join(' -> ')} (${v.to})`),
  };
}

t.test('server, policies and certs have no import cycle and keep their layers', async (t) => {
  const found = await violations(['server', 'policies', 'certs']);
  t.ok(found.cruised > 100, `every module is cruised (${found.cruised})`);
  t.same(found.violations, []);
});

t.test('a cycle through type-only imports is reported', async (t) => {
  const dir = relative(process.cwd(), t.testdir({
    'a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
    'b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
  }));
  const found = await violations([dir]);
  t.equal(found.violations.length, 1);
  t.match(found.violations[0], /^no-circular: .*a\.ts -> .*b\.ts -> .*a\.ts/);
});

t.test('a Kubernetes helper in policies/kube/ that imports a policy module is reported', async (t) => {
  const dir = relative(process.cwd(), t.testdir({
    policies: {
      'types.ts': 'export type K = string;\n',
      quota: { 'resources.ts': 'export const R = 1;\n' },
      kube: {
        'helper.ts': "import type { K } from '../types.js';\nimport { R } from '../quota/resources.js';\nexport const k: K = String(R);\n",
        'other.ts': "import { k } from './helper.js';\nexport const o = k;\n",
      },
    },
  }));
  const found = await violations([dir]);
  t.equal(found.violations.length, 1, found.violations.join('\n'));
  t.match(found.violations[0], /^kube-helpers-below-modules: .*policies\/kube\/helper\.ts.*quota\/resources\.ts/);
});

t.test('a certs/ module importing from server/ is reported', async (t) => {
  const root = t.testdir({
    certs: { 'renew.ts': "import { helper } from '../server/helper.js';\nexport const renew = helper;\n" },
    server: { 'helper.ts': 'export const helper = 1;\n' },
  });
  const cwd = process.cwd();
  process.chdir(root);
  t.teardown(() => process.chdir(cwd));
  const found = await violations(['certs', 'server']);
  t.same(found.violations, ['certs-below-server: certs/renew.ts (server/helper.ts)']);
});
