// Export: downloads what is on screen (tier, window, filters): the metric
// table through /api/v1/export/metrics as GeoParquet, CSV, GeoJSON or
// Excel, and for admins and analysts the event rows behind it as Excel;
// the buttons hide when the endpoint refuses the caller's role.

import * as api from './api.js';
import { t } from './i18n.js';
import { state, windowParams } from './state.js';

export async function mountExport(el) {
  el.hidden = true;
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
  const [metrics, events] = await Promise.all(['metrics', 'events'].map((what) => api.exportAvailable(state.level, state.metric, windowParams(), state.parent, what)));
  for (const b of el.querySelectorAll('button[data-what=events]')) b.hidden = !events;
  el.hidden = !metrics;
}
