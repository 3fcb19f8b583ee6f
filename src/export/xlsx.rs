//! Excel workbooks for the county offices (Excel and WPS): the rows on the
//! first sheet with Chinese headers from the catalogue's labels, times as
//! Excel dates in the deployment's zone, numbers as numbers; the second
//! sheet (说明) names each column (header, column name, formula) and records
//! the query that made the file. Rows go to a temporary file as they come
//! (`rust_xlsxwriter`'s constant-memory mode), so a large export does not
//! sit in memory; the workbook is written to the output at the end.

use std::io::Write;

use chrono::DateTime;
use polars::prelude::*;
use rust_xlsxwriter::{Format as CellFormat, Workbook, XlsxError};

use super::batch::{micros, safe_cell, Batch, Sink, SinkOptions};
use super::ExportError;
use crate::analytics::catalogue;

/// Rows an Excel sheet holds below its header.
pub const MAX_ROWS: u64 = 1_048_575;

/// Chinese headers of the columns that are not metrics.
const COLUMNS_ZH: &[(&str, &str)] = &[
    ("code", "编码"),
    ("name", "名称"),
    ("level", "层级"),
    ("parent", "上级编码"),
    ("households", "户数"),
    ("population", "人口"),
    ("area_km2", "面积（平方公里）"),
    ("centroid_lon", "中心经度"),
    ("centroid_lat", "中心纬度"),
    ("suppressed", "小数值已隐去"),
    ("emerging", "时空热点趋势"),
    ("emerging_zh", "时空热点趋势（中文）"),
    ("emerging_tau", "趋势 τ"),
    ("emerging_p", "趋势 p 值"),
    ("id", "编号"),
    ("system", "来源系统"),
    ("kind", "类型"),
    ("occurred_at", "发生时间"),
    ("lon", "经度"),
    ("lat", "纬度"),
    ("category", "类别"),
    ("status", "状态"),
    ("resolved_at", "办结时间"),
    ("deadline", "办理期限"),
    ("satisfaction", "满意度"),
    ("source", "来源"),
    ("cleared", "已破案"),
    ("household_hash", "户（加密）"),
    ("visitor_hash", "走访人（加密）"),
    ("state", "流程状态"),
    ("updated_at", "更新时间"),
    ("accepted_at", "受理时间"),
    ("dispatched_at", "派遣时间"),
    ("handled_at", "处置时间"),
    ("first_closed_at", "首次结案时间"),
    ("returned_at", "退回时间"),
    ("reworked_at", "返工时间"),
    ("reopened_at", "首次重开时间"),
    ("extended_at", "延期时间"),
    ("first_deadline", "原办理期限"),
    ("escalated_at", "上报上级时间"),
    ("suspended_at", "挂账时间"),
    ("resumed_at", "恢复办理时间"),
    ("solved", "实际解决"),
    ("duplicate", "重复件"),
    ("tier1", "乡镇/街道"),
    ("tier2", "村/社区"),
    ("tier3", "网格"),
    ("outcome", "落格结果"),
    ("year", "年"),
    ("month", "月"),
    ("iso_week", "ISO 周"),
    ("local_date", "日期"),
];

/// The Chinese header of a column and what it is.
pub(super) fn describe(name: &str) -> (String, String) {
    if let Ok(def) = catalogue::metric(name) {
        return (def.zh.to_owned(), format!("{}: {}", def.en, def.formula));
    }
    let zh = COLUMNS_ZH
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(|| name.to_owned(), |(_, zh)| (*zh).to_owned());
    (zh, String::new())
}

/// Writes rows to a constant-memory sheet; the workbook at `finish`.
pub struct XlsxSink<W: Write + Send> {
    out: W,
    book: Workbook,
    when: CellFormat,
    day: CellFormat,
    tz: chrono_tz::Tz,
    row: u32,
}

impl<W: Write + Send> XlsxSink<W> {
    /// A workbook whose first sheet has the headers of `schema`, and whose
    /// second sheet describes them and `opts.query`.
    pub fn new(out: W, schema: &Schema, opts: SinkOptions<'_>) -> Result<Self, ExportError> {
        let mut book = Workbook::new();
        let bold = CellFormat::new().set_bold();
        // The data sheet first (it opens on it), the description second.
        let data = book.add_worksheet_with_constant_memory();
        data.set_name("数据")?;
        for (c, name) in schema.iter_names().enumerate() {
            let c = col(c)?;
            data.write_string_with_format(0, c, describe(name).0, &bold)?;
            data.set_column_width(c, 14)?;
        }
        data.set_freeze_panes(1, 0)?;
        let about = book.add_worksheet();
        about.set_name("说明")?;
        for (c, h) in ["列", "字段", "含义"].iter().enumerate() {
            about.write_string_with_format(0, col(c)?, *h, &bold)?;
        }
        let mut r = 1u32;
        for name in schema.iter_names() {
            let (zh, what) = describe(name);
            about.write_string(r, 0, zh)?;
            about.write_string(r, 1, name.as_str())?;
            about.write_string(r, 2, what)?;
            r += 1;
        }
        r += 1;
        about.write_string_with_format(r, 0, "查询", &bold)?;
        r += 1;
        for (k, v) in opts.query.iter().chain(std::iter::once(&(
            "时区".to_owned(),
            opts.tz.name().to_owned(),
        ))) {
            about.write_string(r, 0, safe_cell(k).as_ref())?;
            about.write_string(r, 1, safe_cell(v).as_ref())?;
            r += 1;
        }
        about.set_column_width(0, 18)?;
        about.set_column_width(1, 22)?;
        about.set_column_width(2, 80)?;
        Ok(XlsxSink {
            out,
            book,
            when: CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            day: CellFormat::new().set_num_format("yyyy-mm-dd"),
            tz: opts.tz,
            row: 0,
        })
    }
}

fn col(c: usize) -> Result<u16, ExportError> {
    u16::try_from(c).map_err(|_| ExportError::Xlsx(XlsxError::RowColumnLimitError))
}

impl<W: Write + Send> Sink for XlsxSink<W> {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let height = batch.frame.height() as u64;
        if u64::from(self.row) + height > MAX_ROWS {
            return Err(ExportError::TooManyRows {
                rows: u64::from(self.row) + height,
                max: MAX_ROWS,
            });
        }
        let (tz, when, day) = (self.tz, &self.when, &self.day);
        let sheet = self.book.worksheet_from_index(0)?;
        let cols = batch.frame.columns();
        for i in 0..batch.frame.height() {
            let r = self.row + 1 + i as u32;
            for (c, column) in cols.iter().enumerate() {
                let c = col(c)?;
                match column.get(i)? {
                    AnyValue::Null => {}
                    AnyValue::Boolean(b) => {
                        sheet.write_boolean(r, c, b)?;
                    }
                    AnyValue::String(s) => {
                        sheet.write_string(r, c, safe_cell(s).as_ref())?;
                    }
                    AnyValue::StringOwned(s) => {
                        sheet.write_string(r, c, safe_cell(&s).as_ref())?;
                    }
                    AnyValue::Date(d) => {
                        sheet.write_datetime_with_format(
                            r,
                            c,
                            crate::analytics::filter::date_of(d),
                            day,
                        )?;
                    }
                    AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
                        if let Some(t) = local(v, unit, tz) {
                            sheet.write_datetime_with_format(r, c, t, when)?;
                        }
                    }
                    v if v.is_primitive_numeric() => {
                        if let Some(x) = v.extract::<f64>().filter(|x| x.is_finite()) {
                            sheet.write_number(r, c, x)?;
                        }
                    }
                    other => {
                        sheet.write_string(r, c, safe_cell(&other.to_string()).as_ref())?;
                    }
                }
            }
        }
        self.row += height as u32;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, ExportError> {
        self.book.save_to_writer(&mut self.out)?;
        self.out.flush().map_err(|e| ExportError::io("<xlsx>", e))?;
        Ok(u64::from(self.row))
    }
}

/// An instant as a local date-time of `tz`.
fn local(v: i64, unit: TimeUnit, tz: chrono_tz::Tz) -> Option<chrono::NaiveDateTime> {
    DateTime::from_timestamp_micros(micros(v, unit)).map(|t| t.with_timezone(&tz).naive_local())
}
