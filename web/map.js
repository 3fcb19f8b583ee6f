// The MapLibre map: units of one tier as polygons with borders and Chinese
// labels, drawn from the service's vector tiles (layers `units` and
// `labels`, feature ids promoted from the unit code), coloured through
// feature state (class index per unit), hover and click, fly-to. Knows
// nothing of the API: app.js hands it the tile URL of a tier, a filter, the
// units (properties and bbox) and classes. Fonts come from the service
// (font-faces), never the internet.

import * as maplibregl from '/vendor/maplibre-gl/maplibre-gl.mjs';

// Two workers parse tiles side by side (MapLibre's default is one).
maplibregl.setWorkerCount(2);

export const FONT = 'Noto Sans SC';
export const NO_DATA = '#d9d9d9';
// Neighbours drawn for orientation: lighter than no data, never a class colour.
export const CONTEXT = '#e3e6e9';
const EMPTY = { type: 'FeatureCollection', features: [] };

/** Sequential palettes (5 classes, light to dark) by metric direction. */
export const PALETTES = {
  higher_is_worse: ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'],
  higher_is_better: ['#edf8e9', '#bae4b3', '#74c476', '#31a354', '#006d2c'],
  neutral: ['#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c'],
};
export const HOT_COLOURS = {
  hot99: '#b2182b', hot95: '#ef8a62', hot90: '#fddbc7', ns: '#f7f7f7',
  cold90: '#d1e5f0', cold95: '#67a9cf', cold99: '#2166ac',
};
/** Emerging hot-spot categories: reds for hot, blues for cold, darker where stronger. */
export const EMERGING_COLOURS = {
  new_hot_spot: '#fdd0a2', consecutive_hot_spot: '#fdae6b', intensifying_hot_spot: '#e6550d',
  persistent_hot_spot: '#a63603', diminishing_hot_spot: '#fc9272', sporadic_hot_spot: '#fbb4b9',
  oscillating_hot_spot: '#c51b8a', historical_hot_spot: '#d6b4a6',
  new_cold_spot: '#c6dbef', consecutive_cold_spot: '#9ecae1', intensifying_cold_spot: '#3182bd',
  persistent_cold_spot: '#08519c', diminishing_cold_spot: '#6baed6', sporadic_cold_spot: '#b3cde3',
  oscillating_cold_spot: '#8c96c6', historical_cold_spot: '#bfc7d5',
  no_pattern: '#f7f7f7',
};
export const LISA_COLOURS = { HH: '#d7191c', HL: '#fdae61', LH: '#abd9e9', LL: '#2c7bb6', ns: '#eeeeee' };

/** Feature state of a unit in the drawn tier. */
const unitState = (id) => ({ source: 'units', sourceLayer: 'units', id });
/** Feature state of a unit's outline (hover). */
const outlineState = (id) => ({ source: 'outlines', sourceLayer: 'units', id });
/**
 * The sources over a tier's tiles: `units` for the fills, `outlines` for
 * the outlines, the selection and the labels. Apart, because a change to
 * an outline or label layer (its zoom range, a filter) makes MapLibre lay
 * out again every tile of its source: the fills' tiles stay as they are,
 * and the outlines' source loads nothing at zooms where none is drawn.
 */
const TIER_SOURCES = ['units', 'outlines'];

export class UnitMap {
  /**
   * `tileUrl(level)`: the tile URL template of a tier; `headers()`: what a
   * tile request must carry (the caller's token); `basemap`: {tiles,
   * attribution} of an intranet raster server drawn under the units, or
   * null (then no request leaves the service); `first`: the tier `level`
   * and the unit `around` (a feature with a bbox) to be drawn first, when
   * known: its tiles load from the start, beside the unit list and the
   * values.
   */
  constructor(container, { onClick, onHover, tileUrl, headers, basemap = null, first = null }) {
    this.features = new Map();
    // code → {cls, colour} as last put into the feature state.
    this.painted = new Map();
    this.labelOverride = null;
    this.tileUrl = tileUrl;
    const level = first?.level ?? 1;
    this.tiles = { units: tileUrl(level), context: null };
    const bounds = first?.around ? bbox([first.around]) : null;
    this.map = new maplibregl.Map({
      container,
      transformRequest: (url) => (url.startsWith(`${location.origin}/tiles/`) ? { url, headers: headers() } : { url }),
      ...(bounds ? { bounds, fitBoundsOptions: FIT } : { center: [115.0, 38.5], zoom: 8 }),
      fadeDuration: 0,
      attributionControl: false,
      localIdeographFontFamily: false,
      dragRotate: false,
      pitchWithRotate: false,
    });
    this.map.setStyle(style(this.tiles.units, basemap, this.tileZoom()));
    this.drawn = this.idle().then(() => this.placeholders());
    this.map.touchZoomRotate.disableRotation();
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
    if (basemap) this.map.addControl(new maplibregl.AttributionControl({ compact: true }), 'bottom-right');
    // The style in place: sources and layers can change (tiles need not be in).
    this.loaded = new Promise((resolve) => this.map.once('style.load', resolve));
    let hovered = null;
    this.map.on('mousemove', 'fill', (e) => {
      const f = e.features[0];
      if (hovered !== f.id) {
        if (hovered !== null) this.map.setFeatureState(outlineState(hovered), { hover: false });
        hovered = f.id;
        this.map.setFeatureState(outlineState(hovered), { hover: true });
      }
      this.map.getCanvas().style.cursor = 'pointer';
      onHover(this.describe(f), e.originalEvent);
    });
    this.map.on('mouseleave', 'fill', () => {
      if (hovered !== null) this.map.setFeatureState(outlineState(hovered), { hover: false });
      hovered = null;
      this.map.getCanvas().style.cursor = '';
      onHover(null);
    });
    // A click (a tap) previews; drilling is a button of the preview.
    this.map.on('click', (e) => {
      // A repeat-complaint point over the units: its popup, not the unit's.
      const point = this.map.getLayer('repeats') && this.repeatPopup
        ? this.map.queryRenderedFeatures(e.point, { layers: ['repeats'] })[0] : null;
      if (point) {
        this.preview(point.geometry.coordinates, this.repeatPopup(point.properties));
        return;
      }
      const hit = this.map.queryRenderedFeatures(e.point, { layers: ['fill', 'context-fill'] })[0];
      if (hit) onClick(this.describe(hit), e.lngLat, hit.layer.id === 'context-fill');
    });
  }

  /**
   * Draws the units of tier `level` that `filter` (a MapLibre filter on
   * the tile properties, null for all) lets through; `fc` lists them
   * (properties code, name, ...; bbox) and is fitted.
   */
  async setUnits(fc, { level, filter = null, fit = true }) {
    await this.loaded;
    this.features = new Map(fc.features.map((f) => [f.properties.code, f]));
    const fresh = this.setTier('units', level);
    // The same filter set again would lay out every tile again.
    if (JSON.stringify(this.map.getFilter('fill') ?? null) !== JSON.stringify(filter)) {
      for (const id of ['fill', 'border', 'labels']) this.map.setFilter(id, filter);
    }
    if (fit && fc.features.length) this.fit(fc.features);
    // MapLibre fetches the parent of every tile still loading as its
    // placeholder (and that tile's parent, ...). A new tier has no loaded
    // parent to show, and at 50,000 grids the county's z8 tier-3 tile is
    // the whole county (3.4 MB, as long to parse as the tiles in view):
    // while a new tier's first view loads, its tiles start at the zoom in
    // view. A drill within a tier keeps its loaded parents as placeholders.
    if (fresh) for (const id of TIER_SOURCES) this.map.getSource(id).minzoom = this.tileZoom();
    this.drawn = this.idle().then(() => this.placeholders());
    // Thousands of labels at county zoom are unreadable and cost seconds of
    // glyph rasterising: show them once zoomed in far enough to read.
    const n = fc.features.length;
    this.zoomRange('labels', n <= 300 ? 0 : this.map.getZoom() + Math.log2(Math.sqrt(n / 150)));
    this.zoomRange('border', outlineZoom(fc.features));
  }

  /** Layer `id` drawn from zoom `min` (laid out again only if it changes). */
  zoomRange(id, min) {
    if (this.map.getLayer(id).minzoom !== min) this.map.setLayerZoomRange(id, min, 24);
  }

  /** Shows `html` in a popup at `lngLat` (the one preview; replaces the last); returns its element. */
  preview(lngLat, html) {
    this.closePreview();
    this.popup = new maplibregl.Popup({ className: 'preview', maxWidth: '280px', focusAfterOpen: false })
      .setLngLat(lngLat).setHTML(html).addTo(this.map);
    return this.popup.getElement();
  }

  closePreview() {
    this.popup?.remove();
    this.popup = null;
  }

  /**
   * Draws a density raster ({west, south, east, north, cols, rows, max,
   * values} with the north row first) over the units, transparent where
   * no event is near; null removes it.
   */
  async setDensity(d) {
    await this.loaded;
    const m = this.map;
    if (m.getLayer('density')) m.removeLayer('density');
    if (m.getSource('density')) m.removeSource('density');
    this.density = d;
    if (!d || !d.cols || !d.rows) return;
    const canvas = document.createElement('canvas');
    canvas.width = d.cols;
    canvas.height = d.rows;
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(d.cols, d.rows);
    const max = d.max || 1;
    for (let i = 0; i < d.values.length; i++) {
      const v = d.values[i] / max;
      if (v <= 0.002) continue;
      // Yellow to deep red as the density rises; more opaque where higher.
      img.data[4 * i] = 230;
      img.data[4 * i + 1] = Math.round(200 * (1 - v));
      img.data[4 * i + 2] = 20;
      img.data[4 * i + 3] = Math.round(60 + 170 * Math.sqrt(v));
    }
    ctx.putImageData(img, 0, 0);
    m.addSource('density', {
      type: 'image',
      url: canvas.toDataURL('image/png'),
      coordinates: [[d.west, d.north], [d.east, d.north], [d.east, d.south], [d.west, d.south]],
    });
    m.addLayer({ id: 'density', type: 'raster', source: 'density', paint: { 'raster-opacity': 0.85, 'raster-fade-duration': 0 } }, 'border');
    await this.idle();
  }

  /**
   * Draws repeat-complaint points (a FeatureCollection of points with
   * count, peak, category, first and last) as circles sized by count,
   * darker from five in one span; `popup(properties)` gives a point's
   * popup HTML. null hides them.
   */
  async setRepeats(fc, popup = null) {
    await this.loaded;
    const m = this.map;
    this.repeatPopup = fc ? popup : null;
    if (!fc) {
      if (m.getLayer('repeats')) m.setLayoutProperty('repeats', 'visibility', 'none');
      return;
    }
    if (m.getSource('repeats')) m.getSource('repeats').setData(fc);
    else {
      m.addSource('repeats', { type: 'geojson', data: fc });
      m.addLayer({
        id: 'repeats',
        type: 'circle',
        source: 'repeats',
        paint: {
          'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'count']], 1, 4, 10, 24],
          'circle-color': ['case', ['>=', ['get', 'peak'], 5], '#7a0177', '#dd3497'],
          'circle-opacity': 0.75,
          'circle-stroke-color': '#ffffff',
          'circle-stroke-width': 1,
        },
      });
    }
    m.setLayoutProperty('repeats', 'visibility', 'visible');
    await this.idle();
  }

  /**
   * Points the sources of `id` ('units': the drawn tier's two, 'context')
   * at the tiles of tier `level`; true if they changed.
   */
  setTier(id, level) {
    const url = this.tileUrl(level);
    if (this.tiles[id] === url) return false;
    for (const s of id === 'units' ? TIER_SOURCES : [id]) this.map.getSource(s).setTiles([url]);
    this.tiles[id] = url;
    // Another tier's units: every state is set again.
    if (id === 'units') this.painted.clear();
    return true;
  }

  /** The zoom of the unit tiles in view (512-px tiles). */
  tileZoom() {
    return Math.min(TILE_MAXZOOM, Math.max(0, Math.floor(this.map.getZoom())));
  }

  /** Lets the unit tiles load lower-zoom placeholders again (zooming out). */
  placeholders() {
    for (const id of TIER_SOURCES) {
      const src = this.map.getSource(id);
      if (src) src.minzoom = 0;
    }
  }

  /**
   * Draws greyed under the units the neighbours of the unit drilled into:
   * tier `level` through `filter`; `fc` lists them. null clears.
   */
  async setContext(fc, { level, filter = null } = {}) {
    await this.loaded;
    this.context = fc || EMPTY;
    const shown = !!fc && fc.features.length > 0;
    if (shown) {
      this.setTier('context', level);
      for (const id of ['context-fill', 'context-border', 'context-labels']) this.map.setFilter(id, filter);
    }
    for (const id of ['context-fill', 'context-border', 'context-labels']) {
      this.map.setLayoutProperty(id, 'visibility', shown ? 'visible' : 'none');
    }
  }

  /**
   * A tile feature's properties with its unit's from the lists drawn (the
   * name, households: tiles carry a name only where it can be read).
   */
  describe(f) {
    const code = f.properties.code;
    const listed = this.features.get(code) || this.context?.features?.find((c) => c.properties.code === code);
    return { ...f.properties, ...(listed?.properties || {}) };
  }

  fit(features, opts = {}) {
    const b = bbox(features);
    if (!b) return;
    this.map.fitBounds(b, { ...FIT, duration: 0, ...opts });
  }

  flyTo(code) {
    const f = this.features.get(code);
    if (f) this.fit([f], { duration: 800, padding: 80 });
  }

  /**
   * Colours units: `classOf` maps code → class index (or a class name), null =
   * no data. `fc`, when given, is the collection about to be drawn: its state
   * is set before its geometry goes in.
   */
  paint(classOf, colours, fc = null) {
    const map = this.map;
    // Before the style is in there is no source to hold the states.
    if (!map.getSource('units')) {
      this.loaded.then(() => this.paint(classOf, colours, fc));
      return;
    }
    const codes = fc ? fc.features.map((f) => f.properties.code) : this.features.keys();
    // Each unit's class and colour go into its feature state; the layer's
    // colour expression never changes, as changing it makes MapLibre lay
    // out every tile again (1.5 s at 50,000 grids). A unit whose colour
    // stays is left alone: MapLibre rewrites the paint arrays of the
    // features whose state changed, so a recolour costs what it changes.
    // One target and one state object for all (MapLibre copies the
    // state): 100,000 fewer objects at 50,000 grids.
    const target = unitState(null);
    const st = { cls: null, colour: null };
    for (const code of codes) {
      const c = classOf.get(code);
      const cls = c === undefined ? null : c;
      const colour = cls === null ? null : colours[cls] ?? null;
      const was = this.painted.get(code);
      if (was && was.cls === cls && was.colour === colour) continue;
      if (was) {
        was.cls = cls;
        was.colour = colour;
      } else this.painted.set(code, { cls, colour });
      target.id = code;
      st.cls = cls;
      st.colour = colour;
      map.setFeatureState(target, st);
    }
  }

  /**
   * Shows a case: flies to (lon, lat), puts a marker there and outlines
   * `grid` (the case's grid as a GeoJSON feature, or null). Replaces the
   * case shown before.
   */
  async locate(lon, lat, grid = null) {
    await this.loaded;
    this.clearCase();
    this.map.getSource('case-grid').setData(grid ? { type: 'FeatureCollection', features: [grid] } : EMPTY);
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) {
      if (grid) this.fit([grid], { duration: 800, padding: 80 });
      return;
    }
    const el = document.createElement('div');
    el.className = 'case-marker';
    el.setAttribute('role', 'img');
    this.marker = new maplibregl.Marker({ element: el, anchor: 'bottom' }).setLngLat([lon, lat]).addTo(this.map);
    this.map.flyTo({ center: [lon, lat], zoom: Math.max(this.map.getZoom(), 14), duration: 800 });
  }

  clearCase() {
    this.marker?.remove();
    this.marker = null;
    this.map.getSource('case-grid')?.setData(EMPTY);
  }

  select(code) {
    // Hidden with no selection: the outlines' tiles are not loaded for it.
    this.map.setLayoutProperty('selected', 'visibility', code ? 'visible' : 'none');
    this.map.setFilter('selected', ['==', ['get', 'code'], code || '']);
  }

  /** Replaces every label's text by `text` (tests: glyph check); null restores names. */
  setLabelText(text) {
    this.labelOverride = text;
    this.map.setLayoutProperty('labels', 'text-field', text === null ? ['get', 'name'] : text);
  }

  /** Resolves once the source has loaded the data last set. */
  sourceLoaded(id) {
    return new Promise((resolve) => {
      const f = (e) => {
        if (e.sourceId === id && e.isSourceLoaded) {
          this.map.off('sourcedata', f);
          resolve();
        }
      };
      this.map.on('sourcedata', f);
    });
  }

  /** Resolves on the next `idle` (after pending renders). */
  idle() {
    return new Promise((resolve) => {
      if (this.map.loaded() && !this.map.isMoving() && this.map.areTilesLoaded()) {
        this.map.once('idle', resolve);
        this.map.triggerRepaint();
      } else {
        this.map.once('idle', resolve);
      }
    });
  }

  resize() {
    this.map.resize();
  }
}

// Tiles are made up to z16 (boundaries to about half a metre) and drawn
// over-zoomed beyond.
const TILE_MAXZOOM = 16;

const FIT = { padding: 30, maxZoom: 15 };

/** The map's style: the units from `tiles`, loaded from zoom `minzoom` up. */
function style(tiles, basemap, minzoom = 0) {
  const vector = { type: 'vector', tiles: [tiles], maxzoom: TILE_MAXZOOM, promoteId: { units: 'code', labels: 'code' } };
  const base = basemap
    ? {
      sources: { basemap: { type: 'raster', tiles: basemap.tiles, tileSize: 256, attribution: basemap.attribution || '' } },
      layers: [{ id: 'basemap', type: 'raster', source: 'basemap' }],
    }
    : { sources: {}, layers: [] };
  // Over a basemap the units are lighter, so that roads and places show.
  const opacity = basemap ? 0.62 : 0.88;
  return {
    version: 8,
    // A recolour is one frame: no fading between colours, which redraws
    // every unit for 300 ms (seconds on a software-rendered screen at
    // 50,000 grids).
    transition: { duration: 0, delay: 0 },
    'font-faces': { [FONT]: [{ url: `${location.origin}/glyphs/NotoSansSC-Regular.woff2` }] },
    sources: {
      units: { ...vector, minzoom },
      outlines: { ...vector, minzoom },
      // Neighbours of the unit drilled into, greyed, for orientation.
      context: { ...vector },
      // The grid of the case located from the side panel (any tier drawn).
      'case-grid': { type: 'geojson', data: EMPTY },
      ...base.sources,
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#f4f6f8' } },
      ...base.layers,
      { id: 'context-fill', type: 'fill', source: 'context', 'source-layer': 'units', layout: { visibility: 'none' }, paint: { 'fill-color': CONTEXT, 'fill-opacity': basemap ? 0.5 : 0.9 } },
      { id: 'context-border', type: 'line', source: 'context', 'source-layer': 'units', layout: { visibility: 'none' }, paint: { 'line-color': '#c5cbd1', 'line-width': 1 } },
      {
        id: 'context-labels', type: 'symbol', source: 'context', 'source-layer': 'labels',
        layout: { visibility: 'none', 'text-field': ['get', 'name'], 'text-font': [FONT], 'text-size': 12, 'text-max-width': 6 },
        paint: { 'text-color': '#8a939c', 'text-halo-color': 'rgba(255,255,255,0.8)', 'text-halo-width': 1 },
      },
      { id: 'fill', type: 'fill', source: 'units', 'source-layer': 'units', paint: { 'fill-color': ['coalesce', ['feature-state', 'colour'], NO_DATA], 'fill-opacity': opacity, 'fill-antialias': FILL_ANTIALIAS } },
      {
        id: 'border', type: 'line', source: 'outlines', 'source-layer': 'units',
        paint: {
          'line-color': ['case', ['boolean', ['feature-state', 'hover'], false], '#222', '#ffffff'],
          'line-width': ['case', ['boolean', ['feature-state', 'hover'], false], 2.5, 0.8],
        },
      },
      {
        id: 'selected', type: 'line', source: 'outlines', 'source-layer': 'units', filter: ['==', ['get', 'code'], ''], layout: { visibility: 'none' },
        paint: { 'line-color': '#111', 'line-width': 3 },
      },
      {
        id: 'case-grid', type: 'line', source: 'case-grid',
        paint: { 'line-color': '#ff7f00', 'line-width': 4, 'line-dasharray': [2, 1] },
      },
      {
        id: 'labels', type: 'symbol', source: 'outlines', 'source-layer': 'labels',
        layout: {
          'text-field': ['get', 'name'],
          'text-font': [FONT],
          'text-size': ['interpolate', ['linear'], ['zoom'], 8, 11, 13, 14],
          'text-max-width': 6,
          'text-padding': 2,
        },
        paint: { 'text-color': '#1f2933', 'text-halo-color': 'rgba(255,255,255,0.9)', 'text-halo-width': 1.4 },
      },
    ],
  };
}

/**
 * The units' fill is drawn without its antialiased edge pass: neighbours
 * share their edges exactly (the tiles' shared arcs), the outlines cover
 * the edges wherever units are wide enough to have them, and at 50,000
 * grids that pass was about half of a software-rendered frame (a recolour
 * 0.55 → 0.37 s in the test browser).
 */
const FILL_ANTIALIAS = false;

/** Screen width, in pixels, from which a unit's outline is drawn. */
const OUTLINE_MIN_PX = 6;

/**
 * The zoom from which the median unit of `features` (with bboxes) is
 * OUTLINE_MIN_PX wide: below it the outlines of thousands of units a pixel
 * or two across would cover their colours with white, and drawing them is
 * most of a frame's cost (at 50,000 grids over a county, each is about a
 * pixel at the county's zoom). A whole number, so that tiles of lower zooms
 * hold no outlines at all; 0 when the units carry no bbox.
 */
export function outlineZoom(features) {
  const widths = features.filter((f) => f.bbox).map((f) => f.bbox[2] - f.bbox[0]).sort((a, b) => a - b);
  if (!widths.length) return 0;
  const median = widths[Math.floor(widths.length / 2)];
  if (!(median > 0)) return 0;
  // A 512-px world at zoom 0: a width of w degrees is w / 360 · 512 · 2^z px.
  const z = Math.log2((OUTLINE_MIN_PX * 360) / (512 * median));
  return Math.max(0, Math.min(22, Math.floor(z)));
}

function bbox(features) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const f of features) {
    if (f.bbox) {
      [w, s, e, n] = [Math.min(w, f.bbox[0]), Math.min(s, f.bbox[1]), Math.max(e, f.bbox[2]), Math.max(n, f.bbox[3])];
      continue;
    }
    eachCoord(f.geometry, ([x, y]) => {
      if (x < w) w = x;
      if (x > e) e = x;
      if (y < s) s = y;
      if (y > n) n = y;
    });
  }
  return w === Infinity ? null : [[w, s], [e, n]];
}

function eachCoord(g, f) {
  if (!g) return;
  const polys = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
  for (const p of polys) for (const ring of p) for (const c of ring) f(c);
}
