// Export: downloads what is on screen (tier, window, filters): the metric
// table through /api/v1/export/metrics as GeoParquet, CSV, GeoJSON or
// Excel, and for admins and analysts the event rows behind it as Excel.
// The buttons are set once from the caller's role (the service checks it
// again on download); nothing is asked of the service until a click.

import * as api from './api.js';
import { t } from './i18n.js';
import { state, windowParams } from './state.js';

export function mountExport(el, role) {
  // [format, extension, label, what]: the metric table on screen, and for
  // the roles that may have them the event rows behind it.
  const formats = [
    ['geoparquet', 'parquet', 'export_parquet', 'metrics'],
    ['csv', 'csv', 'export_csv', 'metrics'],
    ['geojson', 'geojson', 'export_geojson', 'metrics'],
    ['xlsx', 'xlsx', 'export_xlsx', 'metrics'],
    ['xlsx', 'xlsx', 'export_events', 'events'],
  ];
  el.innerHTML = formats
    .map(([f, ext, label, what]) => `<button type="button" data-format="${f}" data-ext="${ext}" data-what="${what}">${t(label)}</button>`)
    .join('');
  for (const b of el.querySelectorAll('button')) {
    b.addEventListener('click', async () => {
      const { format: f, what } = b.dataset;
      const name = `wangge_${what}_${state.parent || 'county'}_L${state.level}_${state.from}_${state.to}.${b.dataset.ext}`;
      try {
        await api.download(f, state.level, state.metric, windowParams(), state.parent, name, what);
      } catch (e) {
        alert(t('error', { message: e.message }));
      }
    });
  }
  // Every role may export the metric table; the event rows, admins and analysts.
  for (const b of el.querySelectorAll('button[data-what=events]')) b.hidden = !['admin', 'analyst'].includes(role);
  el.hidden = false;
}
