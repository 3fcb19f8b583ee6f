// Export: downloads what is on screen (tier, window, filters) through
// /api/v1/export/metrics as GeoParquet, CSV, GeoJSON or Excel; the buttons hide
// when the endpoint is absent or refuses the caller's role.

import * as api from './api.js';
import { t } from './i18n.js';
import { state, windowParams } from './state.js';

export async function mountExport(el) {
  el.hidden = true;
  const formats = [
    ['geoparquet', 'parquet', 'export_parquet'],
    ['csv', 'csv', 'export_csv'],
    ['geojson', 'geojson', 'export_geojson'],
    ['xlsx', 'xlsx', 'export_xlsx'],
  ];
  el.innerHTML = formats
    .map(([f, ext, label]) => `<button type="button" data-format="${f}" data-ext="${ext}">${t(label)}</button>`)
    .join('');
  for (const b of el.querySelectorAll('button')) {
    b.addEventListener('click', async () => {
      const f = b.dataset.format;
      const name = `wangge_${state.parent || 'county'}_L${state.level}_${state.from}_${state.to}.${b.dataset.ext}`;
      try {
        await api.download(f, state.level, state.metric, windowParams(), state.parent, name);
      } catch (e) {
        alert(t('error', { message: e.message }));
      }
    });
  }
  el.hidden = !(await api.exportAvailable(state.level, state.metric, windowParams(), state.parent));
}
