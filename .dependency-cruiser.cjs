// The layer order of docs/architecture.md, checked by `npm run lint` (dependency-cruiser).
// Each top-level folder may import only its own layer or the layers below it; cli/ and bench/
// are both on top and neither imports the other; test/ may import anything and nothing imports
// test/. Within nas/: zoo/ < supernet/ < subnet/, latency/ (siblings) < search/.
// There is deliberately no list of exceptions: an import that runs up is moved, not allowed.

/** From the bottom up; training/ is the place for training once it lands. */
const LAYERS = [
  'common',
  'onnx',
  'datasets',
  'harness',
  'calibration',
  'training',
  'nas',
  'results',
  'pipelines',
];
/** On top of every layer, and independent of each other. */
const TOPS = ['cli', 'bench'];

const NAS_PARTS = {
  zoo: [],
  supernet: ['zoo'],
  subnet: ['zoo', 'supernet'],
  latency: ['zoo', 'supernet'],
  search: ['zoo', 'supernet', 'subnet', 'latency'],
};

const folders = (names) => `^(${names.join('|')})/`;

function layerRule(name, allowed) {
  return {
    name: `layer-${name}`,
    comment: `${name}/ imports only from ${allowed.map((f) => `${f}/`).join(', ')} (docs/architecture.md)`,
    severity: 'error',
    from: { path: `^${name}/` },
    // test/ has its own rule, so a violation is reported once.
    to: { pathNot: [folders(allowed), '^test/'] },
  };
}

const layerRules = [
  ...LAYERS.map((name, i) => layerRule(name, LAYERS.slice(0, i + 1))),
  ...TOPS.map((name) => layerRule(name, [...LAYERS, name])),
];

const nasRules = Object.entries(NAS_PARTS).map(([part, below]) => ({
  name: `nas-${part}`,
  comment: `nas/${part}/ imports from nas/ only ${[part, ...below].map((p) => `nas/${p}/`).join(', ')}`,
  severity: 'error',
  from: { path: `^nas/${part}/` },
  to: { path: '^nas/', pathNot: `^nas/(${[part, ...below].join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    ...nasRules,
    {
      name: 'no-test-imports',
      comment: 'test/ may import anything; nothing outside test/ imports test/',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      comment: 'no module reaches itself through its imports',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // Only the project's own sources are checked; npm packages and node's modules are left out.
    includeOnly: { path: folders([...LAYERS, ...TOPS, 'test']) },
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type is as much a dependency as a value.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: {
      // `npx depcruise . --config .dependency-cruiser.cjs --output-type archi`: the folder graph.
      archi: { collapsePattern: folders([...LAYERS, ...TOPS, 'test']) },
      text: { highlightFocused: true },
    },
  },
};
