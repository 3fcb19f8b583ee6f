// The view state shared by every view (tier, parent, selection, metric,
// window, filters, layer mode), mirrored in the URL hash so that a link or a
// reload opens the same view. Views subscribe with on(); set() notifies.

const listeners = new Set();

export const state = {
  user: null,
  catalogue: [],
  level: 1,
  parent: null, // code of the unit whose children are drawn; null = county
  selected: null, // code of the unit in the side panel
  metric: 'event_count',
  preset: 'year',
  from: '',
  to: '',
  kind: '',
  category: '',
  mode: 'metric', // metric | hot | lisa
  breaks: 'quantile',
};

const HASH_KEYS = ['level', 'parent', 'selected', 'metric', 'preset', 'from', 'to', 'kind', 'category', 'mode'];

export function on(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** Applies a patch; listeners get the set of keys that changed. */
export function set(patch) {
  const changed = new Set();
  for (const [k, v] of Object.entries(patch)) {
    if (state[k] !== v) {
      state[k] = v;
      changed.add(k);
    }
  }
  if (changed.size === 0) return;
  writeHash(changed);
  for (const f of listeners) f(changed);
}

// Moving to another unit or tier is a step of the browser's history, so
// Back returns to the view before it; other changes (metric, window,
// filters) replace the current entry.
const NAV_KEYS = ['level', 'parent', 'selected'];
let restoring = false;

window.addEventListener('popstate', () => {
  restoring = true;
  try {
    set({ parent: null, selected: null, ...readHash() });
  } finally {
    restoring = false;
  }
});

export function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const patch = {};
  for (const k of HASH_KEYS) {
    if (!p.has(k)) continue;
    const v = p.get(k);
    patch[k] = k === 'level' ? Number(v) : v || (k === 'parent' || k === 'selected' ? null : '');
  }
  return patch;
}

function writeHash(changed) {
  const p = new URLSearchParams();
  for (const k of HASH_KEYS) {
    if (state[k] !== null && state[k] !== '') p.set(k, state[k]);
  }
  const url = `#${p}`;
  if (url === location.hash) return;
  if (!restoring && location.hash && NAV_KEYS.some((k) => changed.has(k))) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/** The window and filters as API query parameters. */
export function windowParams() {
  return { from: state.from, to: state.to, kind: state.kind, category: state.category };
}

export function metricDef(name = state.metric) {
  return state.catalogue.find((m) => m.name === name);
}

export function isChief() {
  return state.user?.role === 'chief';
}
