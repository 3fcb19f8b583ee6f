// Every user-visible string of the front end: zh-CN first, English second.
// t(key, vars) fills {name} placeholders; missing keys show the key itself
// so that a gap is visible rather than silent.

export const STRINGS = {
  app_title: ['网格化管理分析', 'Grid management analytics'],
  login_title: ['登录', 'Sign in'],
  username: ['用户名', 'User name'],
  password: ['密码', 'Password'],
  login: ['登录', 'Sign in'],
  logout: ['退出', 'Sign out'],
  login_failed: ['用户名或密码错误', 'Wrong user name or password'],
  lang_switch: ['English', '中文'],
  role_admin: ['管理员', 'Administrator'],
  role_leader: ['领导', 'Leader'],
  role_chief: ['网格长', 'Grid chief'],
  role_analyst: ['分析员', 'Analyst'],
  county: ['全县', 'County'],
  tier: ['层级', 'Tier'],
  tier_1: ['乡镇/街道', 'Townships'],
  tier_2: ['村/社区', 'Villages'],
  tier_3: ['网格', 'Grids'],
  metric: ['指标', 'Metric'],
  kind: ['类型', 'Kind'],
  kind_all: ['全部类型', 'All kinds'],
  kind_issue: ['群众诉求', 'Issues'],
  kind_incident: ['治安案件', 'Incidents'],
  kind_visit: ['走访', 'Visits'],
  category: ['类别', 'Category'],
  category_all: ['全部类别', 'All categories'],
  window: ['时间', 'Window'],
  win_month: ['本月', 'This month'],
  win_3m: ['近3个月', 'Last 3 months'],
  win_year: ['本年', 'This year'],
  win_custom: ['自定义', 'Custom'],
  date_from: ['起', 'From'],
  date_to: ['止(不含)', 'To (excl.)'],
  play: ['▶ 逐月播放', '▶ Play by month'],
  pause: ['‖ 暂停', '‖ Pause'],
  resume: ['▶ 继续', '▶ Resume'],
  stop: ['■ 停止', '■ Stop'],
  playback: ['逐月播放', 'Playback by month'],
  play_prev: ['上一月', 'Previous month'],
  play_next: ['下一月', 'Next month'],
  play_prev_short: ['上月', 'Back'],
  play_next_short: ['下月', 'Next'],
  play_month: ['播放月份', 'Month shown'],
  play_loading: ['加载各月数据 {done}/{total}', 'Loading months {done}/{total}'],
  playing_month: ['{month}（第 {n}/{total} 月，固定色阶）', '{month} (month {n} of {total}, fixed scale)'],
  range_invalid: ['起始日期须早于截止日期', 'The start date must come before the end date'],
  range_incomplete: ['请填写起止日期', 'Fill in both dates'],
  mode: ['图层', 'Layer'],
  mode_metric: ['指标', 'Metric'],
  mode_hot: ['热点 Gi*', 'Hot spots Gi*'],
  mode_lisa: ['LISA 聚类', 'LISA clusters'],
  export: ['导出', 'Export'],
  export_csv: ['导出 CSV', 'Export CSV'],
  export_parquet: ['导出 GeoParquet', 'Export GeoParquet'],
  export_geojson: ['导出 GeoJSON', 'Export GeoJSON'],
  legend_no_data: ['无数据', 'No data'],
  legend_breaks: ['分级：{method}', 'Breaks: {method}'],
  legend_window: ['时段：{from} 至 {to}', 'Window: {from} to {to}'],
  legend_kind: ['类型：{kind}', 'Kind: {kind}'],
  legend_category: ['类别：{category}', 'Category: {category}'],
  legend_not_applicable: ['“{metric}”不适用于所选类型（{kind}），故无数据', '"{metric}" does not apply to {kind}: no data'],
  quantile: ['分位数', 'quantile'],
  jenks: ['自然断点', 'natural breaks'],
  hot99: ['热点 99%', 'Hot spot 99%'],
  hot95: ['热点 95%', 'Hot spot 95%'],
  hot90: ['热点 90%', 'Hot spot 90%'],
  ns: ['不显著', 'Not significant'],
  cold90: ['冷点 90%', 'Cold spot 90%'],
  cold95: ['冷点 95%', 'Cold spot 95%'],
  cold99: ['冷点 99%', 'Cold spot 99%'],
  lisa_HH: ['高-高', 'High-High'],
  lisa_LH: ['低-高', 'Low-High'],
  lisa_LL: ['低-低', 'Low-Low'],
  lisa_HL: ['高-低', 'High-Low'],
  lisa_ns: ['不显著', 'Not significant'],
  moran: ['全局 Moran I = {i}（z = {z}，p = {p}）', 'Global Moran I = {i} (z = {z}, p = {p})'],
  tab_overview: ['概况', 'Overview'],
  tab_compare: ['对比排名', 'League table'],
  kpis: ['关键指标', 'Key figures'],
  yoy: ['同比', 'YoY'],
  mom: ['环比', 'MoM'],
  pp: ['个百分点', ' pp'],
  trend: ['趋势', 'Trend'],
  moving_avg: ['移动平均', 'Moving average'],
  alerts: ['异常预警', 'Alerts'],
  alert_row: ['{period}：实际 {observed}，预期 {expected}（p {p}）', '{period}: observed {observed}, expected {expected} (p {p})'],
  p_tiny: ['< 0.001，极显著', '< 0.001, very strong'],
  no_alerts: ['无预警', 'No alerts'],
  open_issues: ['未办结问题（超期在前）', 'Open issues (overdue first)'],
  case_history: ['办理过程', 'History'],
  case_reported: ['上报', 'Reported'],
  case_to: ['派往 {unit}', 'to {unit}'],
  case_new_deadline: ['新期限 {d}', 'new deadline {d}'],
  case_no_steps: ['尚无后续环节', 'No steps yet'],
  case_show: ['查看办理过程', 'Show the history'],
  open_issues_total: ['共 {n} 件', '{n} in all'],
  issues_kind_note: ['所选类型为“{kind}”：未办结问题仅属群众诉求，选“全部类型”或“群众诉求”可查看', 'The kind chosen is {kind}: open issues belong to Issues only; choose All kinds or Issues to list them'],
  pages: ['分页', 'Pages'],
  page_prev: ['上一页', 'Previous'],
  page_next: ['下一页', 'Next'],
  page_of: ['第 {n}/{m} 页', 'Page {n} of {m}'],
  case_no_place: ['该问题无坐标，无法在地图上定位', 'This case has no position to show on the map'],
  overdue: ['超期', 'Overdue'],
  deadline: ['期限', 'Deadline'],
  occurred: ['发生', 'Occurred'],
  no_items: ['暂无', 'None'],
  households: ['户数', 'Households'],
  area_km2: ['面积(km²)', 'Area (km²)'],
  value: ['数值', 'Value'],
  rank: ['排名', 'Rank'],
  standing: ['比较结果', 'Standing'],
  standing_better: ['显著优于', 'Better'],
  standing_as_expected: ['无显著差异', 'No clear difference'],
  standing_worse: ['显著差于', 'Worse'],
  standing_title: ['漏斗图判定：与同级合并水平相比，超出 95% 控制限为显著（已校正过度离散）；同一组内的名次差别是随机波动，共享一个名次区间', 'Funnel plot: against the pooled level of the units compared, beyond the 95% control limits is significant (overdispersion-adjusted); ranks within one group are noise and share one range'],
  alarm_title: ['超出 99.8% 控制限', 'Beyond the 99.8% limits'],
  rank_change: ['名次变化', 'Rank change'],
  name: ['名称', 'Name'],
  interval: ['区间', 'Interval'],
  interval_title: ['95% 置信区间：比率用 Wilson 区间，计数用精确泊松区间，密度与每千户等为计数区间除以面积或户数', '95% confidence interval: Wilson for rates, exact Poisson for counts, the count\'s interval over the area or households for densities and per-household rates'],
  smoothed: ['平滑值', 'Smoothed'],
  volume: ['件数', 'Volume'],
  score: ['考核得分', 'Score'],
  spark: ['走势', 'Trend'],
  spark_axis: ['走势：{from} 至 {to}，按{grain}', 'Trend: {from} to {to}, by {grain}'],
  grain_day: ['日', 'day'],
  grain_iso_week: ['周', 'week'],
  grain_month: ['月', 'month'],
  not_eligible: ['样本不足', 'Too few events'],
  compare_of: ['{name} 下级单位排名', 'Units of {name}'],
  compare_leaf: ['网格为最底层，无下级单位', 'A grid has no children to compare'],
  score_parts: ['得分构成', 'Score breakdown'],
  loading: ['加载中…', 'Loading…'],
  error: ['出错：{message}', 'Error: {message}'],
  not_found: ['无权访问或不存在', 'Not found or out of your scope'],
  select_unit: ['点击地图选择单位', 'Click the map to pick a unit'],
  my_grids: ['我的网格', 'My grids'],
  unit_count: ['{n} 个单位', '{n} units'],
  preview_drill: ['进入', 'Drill in'],
  preview_go: ['转到此处', 'Go there'],
  tooltip_value: ['{metric}：{value}', '{metric}: {value}'],
  up: ['上升', 'up'],
  down: ['下降', 'down'],
  flat: ['持平', 'flat'],
  back_up: ['返回上级', 'Up one level'],
  u_per_km2: ['/km²', '/km²'],
  u_per_1000_households: ['/千户', 'per 1,000 households'],
  u_per_100_visits: ['/百次走访', 'per 100 visits'],
  u_per_grid: ['/网格', 'per grid'],
  u_hours: ['小时', 'h'],
  u_score: ['分', 'pts'],
};

let lang = localStorage.getItem('wangge.lang') || 'zh-CN';

export function getLang() {
  return lang;
}

export function setLang(l) {
  lang = l;
  localStorage.setItem('wangge.lang', l);
  document.documentElement.lang = l;
}

export function t(key, vars = {}) {
  const row = STRINGS[key];
  const s = row ? row[lang === 'en' ? 1 : 0] : key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
}

/** The catalogue's label for a metric in the current language. */
export function metricLabel(m) {
  if (!m) return '';
  return lang === 'en' ? (m.label_en || m.name) : (m.label_zh || m.name);
}

/** Fills every element carrying data-i18n (text) or data-i18n-title. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
