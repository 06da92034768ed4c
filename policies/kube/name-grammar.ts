// The names a Tenant may carry, as ONE grammar read by both sides: the runtime (parseHard, the
// selector check of server/cluster/tenant-spec-guard.ts) tests names with these regular
// expressions, and the Tenant CRD's CEL rules are generated from them (test/manifests-crd.test.ts
// holds the CRD's rule text equal to celRule's output), so the CRD admits exactly what the runtime
// can use. Every pattern is written in the common subset of RE2 (CEL's `matches`) and JavaScript.
//
// Label keys and values follow k8s.io/apimachinery pkg/util/validation/validation.go
// (IsQualifiedName: an optional DNS-1123 subdomain prefix of at most 253 characters and '/', then a
// name of at most 63; IsValidLabelValue: at most 63, empty allowed); selectors follow
// pkg/apis/meta/v1/validation/validation.go ValidateLabelSelectorRequirement (In/NotIn need
// values, Exists/DoesNotExist take none).

/** A grammar: exact names, and patterns of which a name must match ALL of one group. */
export interface NameGrammar {
  names: readonly string[];
  /** Each entry is a group of patterns a name must all match (RE2/JS-compatible sources). */
  patterns: ReadonlyArray<readonly string[]>;
}

const DNS_SUBDOMAIN = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';

/** A label key (IsQualifiedName): the shape, and the prefix at most 253 characters. */
export const LABEL_KEY: NameGrammar = {
  names: [],
  patterns: [[`^(${DNS_SUBDOMAIN}/)?${LABEL_NAME}$`, '^([^/]{1,253}/)?[^/]+$']],
};
/** The longest label key: a 253-character prefix, '/', a 63-character name. */
export const LABEL_KEY_MAX_LENGTH = 317;

/** A label value (IsValidLabelValue): empty, or at most 63 characters of the name shape. */
export const LABEL_VALUE_PATTERN = `^(${LABEL_NAME})?$`;
export const LABEL_VALUE_MAX_LENGTH = 63;

/** An SELinux MCS level as secure-defaults fills it into seLinuxOptions.level, e.g. s0:c123,c456. */
export const SELINUX_LEVEL_PATTERN = '^s[0-9]+(-s[0-9]+)?(:c[0-9]+([.,]c[0-9]+)*)?$';

/** The resource names tenant-quota accounts, with the built-in ResourceQuota's short names. */
export const QUOTA_FIXED_NAMES = [
  'count/pods',
  'count/virtualmachines.kubevirt.io',
  'requests.cpu',
  'requests.memory',
  'limits.cpu',
  'limits.memory',
  'requests.storage',
  'persistentvolumeclaims',
  'cpu',
  'memory',
  'pods',
] as const;

/** requests.hugepages-<size>: a page size as the kubelet names it (2Mi, 1Gi, 2048Ki, 64k). */
export const HUGEPAGES_NAME = '^requests\\.hugepages-[1-9][0-9]*([KMGTPE]i|[kMGTPE])?$';
/** <class>.storageclass.storage.k8s.io/<resource>: the class a DNS subdomain of at most 253 characters. */
export const STORAGE_CLASS_NAME = `^${DNS_SUBDOMAIN}\\.storageclass\\.storage\\.k8s\\.io/(requests\\.storage|persistentvolumeclaims)$`;
const STORAGE_CLASS_LENGTH = '^.{1,253}\\.storageclass\\.storage\\.k8s\\.io/';

export const QUOTA_NAME: NameGrammar = {
  names: QUOTA_FIXED_NAMES,
  patterns: [[HUGEPAGES_NAME], [STORAGE_CLASS_NAME, STORAGE_CLASS_LENGTH]],
};

const compiled = new WeakMap<NameGrammar, RegExp[][]>();

/** Whether `name` is in the grammar (the runtime's reading). */
export function inGrammar(grammar: NameGrammar, name: string): boolean {
  if (grammar.names.includes(name)) return true;
  let groups = compiled.get(grammar);
  if (groups === undefined) {
    groups = grammar.patterns.map((group) => group.map((p) => new RegExp(p)));
    compiled.set(grammar, groups);
  }
  return groups.some((group) => group.every((re) => re.test(name)));
}

/** A CEL string literal (single-quoted, backslashes and quotes escaped). */
function celString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** The CEL condition that `variable` is in the grammar (the CRD's reading). */
export function celCondition(grammar: NameGrammar, variable: string): string {
  const terms: string[] = [];
  if (grammar.names.length > 0) terms.push(`${variable} in [${grammar.names.map(celString).join(', ')}]`);
  for (const group of grammar.patterns) {
    const all = group.map((p) => `${variable}.matches(${celString(p)})`);
    terms.push(all.length === 1 ? all[0]! : `(${all.join(' && ')})`);
  }
  return terms.join(' || ');
}
