//! Reading event files: encodings, bad rows, empty files, the whole pipeline.

use polars::prelude::*;
use wangge::columns as c;
use wangge::ingest::IngestError;
use wangge::join::{join_files, JoinOutput, Locator, Strategy};

use crate::util::{fixture, hasher, read_all, tiny_county, validator};

fn reason_of(rej: &[wangge::ingest::Reject], row: u64) -> (&str, &str) {
    let r = rej
        .iter()
        .find(|r| r.row == row)
        .unwrap_or_else(|| panic!("row {row} not rejected: {rej:?}"));
    (r.column.as_str(), r.reason.as_str())
}

#[test]
fn each_bad_row_is_rejected_with_its_line_column_and_reason() {
    let (events, _, rej, read) = read_all(&fixture("events/edge_cases.csv")).unwrap();
    assert_eq!(read, 17);
    assert_eq!(events.len() + rej.len(), 17);
    // Line numbers count the header as line 1.
    assert_eq!(reason_of(&rej, 7).0, "lon", "NaN lon");
    assert_eq!(reason_of(&rej, 8).0, "lat", "lat 95");
    let (col, why) = reason_of(&rej, 9);
    assert_eq!(col, "lat");
    assert!(why.contains("swapped"), "{why}");
    assert!(reason_of(&rej, 10).1.contains("not a number"));
    assert_eq!(reason_of(&rej, 12).0, "kind");
    assert_eq!(reason_of(&rej, 13).0, "occurred_at");
    assert_eq!(reason_of(&rej, 17).0, "category");
    assert_eq!(reason_of(&rej, 18).0, "id");
}

#[test]
fn personal_data_is_hashed_never_kept_in_clear() {
    let (events, _, _, _) = read_all(&fixture("events/edge_cases.csv")).unwrap();
    let visit = events.iter().find(|e| e.id == "e04").unwrap();
    let h = visit.household_hash.as_deref().unwrap();
    assert_ne!(h, "H-001");
    assert_eq!(h, hasher().hash("H-001"));
    assert!(!format!("{visit:?}").contains("张三"));
}

#[test]
fn a_gbk_csv_is_detected_and_read() {
    let (events, _, rej, read) = read_all(&fixture("events/gbk.csv")).unwrap();
    assert_eq!((read, rej.len()), (2, 0), "{rej:?}");
    assert_eq!(events[0].category, "环境卫生");
    assert_eq!(events[1].category, "入户走访");
}

/// A UTF-8 file with one byte it cannot read (a GBK character pasted in)
/// stays UTF-8: that row alone is rejected, and the Chinese text of the
/// others is kept (read as GB18030 for that byte, every category was
/// stored as other characters: 民生服务 as 姘戠敓鏈嶅姟).
/// GBK text that happens to be valid UTF-8 (诈骗 is D5A9 C6AD, `թƭ` in
/// UTF-8; about 1,900 common characters pair so) was read as UTF-8: the
/// category stored as `թƭ`, and in a file with one other row, that row
/// rejected as malformed. Chinese text in UTF-8 is characters of three
/// bytes; these are two-byte ones, so the file is read as GBK.
#[test]
fn gbk_text_that_is_also_valid_utf8_is_read_as_gbk() {
    let dir = tempfile::tempdir().unwrap();
    let fraud = b"f,incident,2026-03-01 08:30,115.0,38.5,\xD5\xA9\xC6\xAD\n"; // 诈骗
    let theft = b"t,incident,2026-03-01 08:30,115.0,38.5,\xB5\xC1\xC7\xD4\n"; // 盗窃
    for (name, rows) in [
        ("pure.csv", vec![fraud]),
        ("mixed.csv", vec![fraud, fraud, fraud, theft]),
    ] {
        let mut bytes = b"id,kind,occurred_at,lon,lat,category\n".to_vec();
        rows.iter().for_each(|r| bytes.extend_from_slice(*r));
        assert_eq!(std::str::from_utf8(&bytes).is_ok(), name == "pure.csv");
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (ok, _, rej, _) = read_all(&path).unwrap();
        assert!(rej.is_empty(), "{name}: {rej:?}");
        let cats: Vec<&str> = ok.iter().map(|e| e.category.as_str()).collect();
        assert_eq!(cats[0], "诈骗", "{name}");
        assert_eq!(
            *cats.last().unwrap(),
            if name == "pure.csv" {
                "诈骗"
            } else {
                "盗窃"
            }
        );
    }
}

#[test]
fn a_utf8_file_with_a_corrupt_byte_keeps_its_text_and_rejects_that_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    let mut bytes = "id,kind,occurred_at,lon,lat,category\n\
        a1,incident,2026-03-01 08:00,115.0,38.5,矛盾纠纷\n\
        a2,incident,2026-03-01 08:00,115.0,38.5,"
        .as_bytes()
        .to_vec();
    bytes.extend(b"\xB0\xA1\n");
    bytes.extend("a3,incident,2026-03-01 08:00,115.0,38.5,盗窃\n".as_bytes());
    std::fs::write(&path, bytes).unwrap();
    let (events, _, rej, read) = read_all(&path).unwrap();
    assert_eq!(read, 3);
    let cats: Vec<&str> = events.iter().map(|e| e.category.as_str()).collect();
    assert_eq!(cats, ["矛盾纠纷", "盗窃"]);
    assert_eq!(reason_of(&rej, 3).0, "category");
}

/// The columns no contract column reads are named, in every format, each
/// once: a misspelt `deadlin` is left out of every row, and the loads say
/// so. Chinese aliases are read, so not named.
#[test]
fn the_columns_a_file_gives_that_nothing_reads_are_named() {
    use wangge::ingest::{unread_columns, update_column_of};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("e.csv");
    std::fs::write(
        &csv,
        "\u{feff}id,kind,发生时间,经度,纬度,category,deadlin,备注x\n",
    )
    .unwrap();
    let of = |p: &std::path::Path| unread_columns(p, None, wangge::ingest::column_of);
    assert_eq!(of(&csv), ["deadlin", "备注x"]);
    let tsv = d.join("e.tsv");
    std::fs::write(&tsv, "id\tkind\tlon\tlat\tcatgory\n").unwrap();
    assert_eq!(of(&tsv), ["catgory"]);
    let jsonl = d.join("e.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\":\"a\",\"kind\":\"issue\",\"deadlin\":1}\nnot json\n{\"id\":\"b\",\"stauts\":\"x\",\"deadlin\":2}\n",
    )
    .unwrap();
    assert_eq!(of(&jsonl), ["deadlin", "stauts"]);
    let pq = d.join("e.parquet");
    let mut df =
        df!("id" => ["a"], "kind" => ["issue"], "lon" => [115.0], "extra" => [1i64]).unwrap();
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    assert_eq!(of(&pq), ["extra"]);
    let updates = d.join("u.csv");
    std::fs::write(&updates, "工单编号,update_id,at,status,handler\n").unwrap();
    assert_eq!(
        unread_columns(&updates, None, update_column_of),
        ["handler"]
    );
}

#[test]
fn a_utf8_bom_does_not_hide_the_first_column() {
    let (events, _, rej, _) = read_all(&fixture("events/utf8_bom.csv")).unwrap();
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(events[0].id, "e01");
}

#[test]
fn an_empty_file_is_a_clear_error_and_a_header_only_file_has_no_rows() {
    let e = read_all(&fixture("events/empty.csv")).unwrap_err();
    assert!(matches!(e, IngestError::Empty { .. }), "{e}");
    assert!(e.to_string().contains("empty.csv"));
    let (events, _, rej, read) = read_all(&fixture("events/header_only.csv")).unwrap();
    assert_eq!((events.len(), rej.len(), read), (0, 0, 0));
}

#[test]
fn a_missing_required_column_names_the_file_and_the_column() {
    let e = read_all(&fixture("events/missing_lat_column.csv")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("missing_lat_column.csv") && msg.contains("`lat`"),
        "{msg}"
    );
}

#[test]
fn two_columns_for_one_field_are_refused_naming_the_file_and_both_columns() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // A name and its Chinese alias: which latitude is meant cannot be told.
    let csv = write(
        "both_lat.csv",
        "id,kind,occurred_at,lon,lat,纬度,category\ne1,visit,2026-03-01 08:30,115.0,38.5,38.6,入户走访\n",
    );
    let e = read_all(&csv).unwrap_err();
    assert!(matches!(e, IngestError::AmbiguousColumn { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the columns `lat` and `纬度` both give `lat`: keep one of them",
            csv.display()
        )
    );
    // The same in Parquet.
    let mut df = df!(
        "id" => ["e1"], "kind" => ["visit"], "occurred_at" => ["2026-03-01 08:30"],
        "lon" => [115.0], "lat" => [38.5], "category" => ["入户走访"], "时间" => ["2026-03-02 08:30"],
    )
    .unwrap();
    let pq = dir.path().join("two_times.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let msg = read_all(&pq).unwrap_err().to_string();
    assert!(
        msg.contains("two_times.parquet")
            && msg.contains("`occurred_at` and `时间` both give `occurred_at`"),
        "{msg}"
    );
    // A JSON object with two keys for one field is its own row's problem:
    // rejected with both names, the other rows read.
    let jsonl = write(
        "keys.jsonl",
        concat!(
            r#"{"id":"j1","kind":"visit","occurred_at":"2026-03-01 08:30","lon":115.0,"lat":38.5,"category":"入户走访"}"#,
            "\n",
            r#"{"id":"j2","kind":"visit","occurred_at":"2026-03-01 08:30","lon":115.0,"经度":115.1,"lat":38.5,"category":"入户走访"}"#,
            "\n",
        ),
    );
    let (events, _, rej, read) = read_all(&jsonl).unwrap();
    assert_eq!((read, events.len()), (2, 1));
    assert_eq!(
        reason_of(&rej, 2).1,
        "the columns `lon` and `经度` both give `lon`: keep one of them"
    );
    // Case updates: the file is refused.
    let updates = write(
        "updates.csv",
        "issue_id,update_id,at,status,at\ni1,u1,2026-03-01 09:00,受理,2026-03-01 10:00\n",
    );
    let h = hasher();
    let msg = wangge::ingest::read_updates(&updates, &validator(&h))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("updates.csv") && msg.contains("two columns are named `at`: keep one of them"),
        "{msg}"
    );
}

#[test]
fn json_lines_take_typed_values_and_chinese_states() {
    let (events, _, rej, read) = read_all(&fixture("events/edge_cases.jsonl")).unwrap();
    assert_eq!(read, 4);
    assert_eq!(reason_of(&rej, 3).0, "");
    let j3 = events.iter().find(|e| e.id == "j3").unwrap();
    assert_eq!(
        (j3.status, j3.satisfaction),
        (Some("resolved"), Some("basic"))
    );
    let j2 = events.iter().find(|e| e.id == "j2").unwrap();
    assert_eq!(j2.cleared, Some(true));
    assert_eq!(j2.lon, 115.035);
}

/// A `.json` file may hold one JSON array of objects, what the API takes
/// (a hotline system's export often is one): each element is a row,
/// numbered by its place in the array, and a bad element costs its row
/// only. An array that breaks off is one more rejected row saying where;
/// the rows before it are kept. Before, the whole file was one rejected
/// row, "not a JSON object". The column check and `wangge ingest`'s
/// events-or-steps choice read the elements' keys the same way.
#[test]
fn a_json_file_may_hold_one_array_of_rows() {
    let d = tempfile::tempdir().unwrap();
    let row = |id: &str, lon: &str| {
        format!(
            r#"{{"id":"{id}","kind":"issue","occurred_at":"2024-03-01T10:00:00+08:00","lon":{lon},"lat":38.5,"category":"环境卫生","status":"上报"}}"#
        )
    };
    let whole = d.path().join("whole.json");
    std::fs::write(
        &whole,
        format!(
            "\n [\n{},\n{}, 7,\n{{\"id\":\"x\",\"deadlin\":1}}]\n",
            row("a1", "115.0"),
            row("a2", "\"east\"")
        ),
    )
    .unwrap();
    let (events, _, rej, read) = read_all(&whole).unwrap();
    assert_eq!(read, 4);
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["a1"],
        "{rej:?}"
    );
    assert_eq!(reason_of(&rej, 2).0, "lon");
    assert!(
        reason_of(&rej, 3).1.contains("not a JSON object"),
        "{rej:?}"
    );
    assert_eq!(
        wangge::ingest::unread_columns(&whole, None, wangge::ingest::column_of),
        ["deadlin"]
    );
    let broken = d.path().join("broken.json");
    std::fs::write(
        &broken,
        format!(
            "[{},{},\n{{\"id\": \"b3\"",
            row("b1", "115.0"),
            row("b2", "115.0")
        ),
    )
    .unwrap();
    let (events, _, rej, read) = read_all(&broken).unwrap();
    assert_eq!((events.len(), read), (2, 3));
    let (_, why) = reason_of(&rej, 3);
    assert!(
        why.contains("breaks off after element 2") && why.contains("line 2"),
        "{why}"
    );
    // Transition rows in an array.
    let steps = d.path().join("steps.json");
    std::fs::write(
        &steps,
        r#"[{"issue_id":"a1","update_id":"u1","at":"2024-03-02T10:00:00+08:00","status":"结案"},
            {"issue_id":"a1","update_id":"u2","at":"yesterday","status":"结案"}]"#,
    )
    .unwrap();
    let ((ok, bad), _) = read_steps(&steps);
    assert_eq!((ok.len(), bad.len()), (1, 1));
    assert_eq!((ok[0].0, bad[0].row), (1, 2));
}

/// A row whose columns slipped (an unquoted comma in a household's
/// address) puts the visitor's name where the time belongs: its reason,
/// which goes to the rejects file and the log, masks the name (脱敏), and
/// shows a bad time or number whole. Before, the name was quoted in clear.
#[test]
fn a_reason_masks_a_value_that_may_be_personal_data() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("visits.csv");
    std::fs::write(
        &f,
        "id,kind,household,visitor,occurred_at,lon,lat,category,source\n\
         VX1,visit,幸福小区3号楼,501室,张三丰,2026-10-01 10:00:00,115.03,38.46,接访,\n\
         VX2,visit,H-2,李四,2026-13-01 10:00,115.03,38.46,接访,\n",
    )
    .unwrap();
    let (_, _, rej, read) = read_all(&f).unwrap();
    assert_eq!((read, rej.len()), (2, 2), "{rej:?}");
    let (col, why) = reason_of(&rej, 2);
    assert_eq!(col, "occurred_at");
    assert_eq!(why, r#"not a timestamp: "张*丰" (3 characters, masked)"#);
    let all = format!("{rej:?}");
    for name in ["张三丰", "幸福小区", "501室", "李四"] {
        assert!(!all.contains(name), "{name} in {all}");
    }
    assert!(
        reason_of(&rej, 3).1.contains(r#""2026-13-01 10:00""#),
        "{rej:?}"
    );
}

/// A boolean where an id belongs (a flag column exported under the id's
/// name) rejects its row; it was read as the id "true", so every such row
/// was one case.
#[test]
fn a_boolean_id_is_refused_not_read_as_true() {
    let d = tempfile::tempdir().unwrap();
    let pq = d.path().join("e.parquet");
    let mut df = df!(
        "id" => [true, false],
        "kind" => ["incident", "incident"],
        "occurred_at" => ["2024-03-01 10:00", "2024-03-01 11:00"],
        "lon" => [115.0, 115.0],
        "lat" => [38.5, 38.5],
        "category" => ["盗窃", "盗窃"]
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let (events, _, rej, read) = read_all(&pq).unwrap();
    assert_eq!((events.len(), read), (0, 2), "{rej:?}");
    assert_eq!(
        reason_of(&rej, 1),
        ("id", "a boolean (true) where an id belongs")
    );
    let steps = d.path().join("u.jsonl");
    std::fs::write(
        &steps,
        r#"{"issue_id":"a","update_id":false,"at":"2024-03-02 10:00","status":"结案"}"#,
    )
    .unwrap();
    let ((ok, bad), _) = read_steps(&steps);
    assert!(ok.is_empty());
    assert_eq!(
        (bad[0].column.as_str(), bad[0].reason.as_str()),
        ("update_id", "a boolean (false) where an id belongs")
    );
}

/// A file separated by semicolons, or UTF-16 without its byte-order mark,
/// reads as a header of one odd column: the missing column's message says
/// why. Before, it named the missing `id` alone.
#[test]
fn a_header_of_one_odd_column_says_why_it_gives_nothing() {
    let d = tempfile::tempdir().unwrap();
    let semi = d.path().join("semi.csv");
    std::fs::write(
        &semi,
        "id;kind;occurred_at;lon;lat;category\na;incident;2024-03-01 10:00;115;38.5;x\n",
    )
    .unwrap();
    let msg = read_all(&semi).unwrap_err().to_string();
    assert!(
        msg.contains("missing required column `id` (the header is one column holding semicolons"),
        "{msg}"
    );
    let u16 = d.path().join("u16.csv");
    let text = "id,kind,occurred_at,lon,lat,category\n";
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    std::fs::write(&u16, bytes).unwrap();
    let msg = read_all(&u16).unwrap_err().to_string();
    assert!(msg.contains("UTF-16 without its byte-order mark"), "{msg}");
    let steps = d.path().join("steps.csv");
    std::fs::write(&steps, "issue_id;update_id;at;status\n").unwrap();
    let h = hasher();
    let msg = wangge::ingest::read_updates(&steps, &validator(&h))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("semicolons"), "{msg}");
}

/// A Parquet column of bytes (how some writers store text) is read as
/// text, and a value in it that is no UTF-8 costs its row, named by its
/// column; the others are read. Before, the whole file was refused.
#[test]
fn a_bad_value_in_a_binary_parquet_column_costs_its_row_only() {
    let d = tempfile::tempdir().unwrap();
    let bytes = |v: [&'static [u8]; 3]| Series::new("category".into(), v.to_vec());
    let category = bytes([b"\xe7\x9b\x97\xe7\xaa\x83", b"\xb5\xc1", b"fire"]);
    let mut df = df!(
        "id" => ["a", "b", "c"],
        "kind" => ["incident"; 3],
        "occurred_at" => ["2024-03-01 10:00"; 3],
        "lon" => [115.0; 3],
        "lat" => [38.5; 3]
    )
    .unwrap();
    df.with_column(category.into_column()).unwrap();
    assert_eq!(df.column("category").unwrap().dtype(), &DataType::Binary);
    let pq = d.path().join("e.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let (events, _, rej, read) = read_all(&pq).unwrap();
    assert_eq!(read, 3);
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.id.as_str(), e.category.as_str()))
        .collect();
    assert_eq!(got, [("a", "盗窃"), ("c", "fire")], "{rej:?}");
    let (col, why) = reason_of(&rej, 2);
    assert_eq!(col, "category");
    assert!(why.contains("no UTF-8"), "{why}");
}

#[test]
fn naive_times_are_read_in_shanghai_and_rfc3339_keeps_its_offset() {
    let (events, _, _, _) = read_all(&fixture("events/edge_cases.csv")).unwrap();
    let e01 = events.iter().find(|e| e.id == "e01").unwrap();
    let e02 = events.iter().find(|e| e.id == "e02").unwrap();
    // 2026-03-01 08:30 in Shanghai is 00:30 UTC.
    assert_eq!(e01.occurred_at, 1_772_325_000_000_000);
    assert_eq!(e01.occurred_at, e02.occurred_at);
}

/// A join that fails leaves the files of the run before as they were (it
/// emptied the joined Parquet), and a nested Parquet column is named in
/// the error (it was "cannot cast List type").
#[test]
fn a_failed_join_keeps_the_earlier_output_and_names_a_nested_column() {
    let grids = || {
        let (model, _) = tiny_county();
        let loc = Locator::new(&model, Strategy::Cells);
        Ok((model, loc))
    };
    let dir = tempfile::tempdir().unwrap();
    let (pq, rj) = (
        dir.path().join("j.parquet"),
        dir.path().join("j.rejects.csv"),
    );
    let h = hasher();
    let v = validator(&h);
    let out = JoinOutput {
        parquet: &pq,
        rejects: &rj,
        earlier: &[],
    };
    let join = |files: &[std::path::PathBuf]| {
        join_files(
            &grids,
            files,
            None,
            &v,
            &Default::default(),
            &out,
            &mut |_| {},
        )
    };
    join(&[fixture("events/edge_cases.csv")]).unwrap();
    let before = (std::fs::read(&pq).unwrap(), std::fs::read(&rj).unwrap());
    let nested = dir.path().join("nested.parquet");
    let category = Series::new("".into(), &["盗窃"]);
    let mut df = DataFrame::new(
        1,
        vec![
            Column::new("id".into(), &["n1"]),
            Column::new("kind".into(), &["incident"]),
            Column::new("occurred_at".into(), &["2026-03-01 08:00"]),
            Column::new("lon".into(), &[115.015f64]),
            Column::new("lat".into(), &[38.505f64]),
            Column::new("category".into(), &[category]),
        ],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&nested).unwrap())
        .finish(&mut df)
        .unwrap();
    let err = join(&[fixture("events/edge_cases.csv"), nested])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column `category`") && err.contains("nested"),
        "{err}"
    );
    assert_eq!(
        (std::fs::read(&pq).unwrap(), std::fs::read(&rj).unwrap()),
        before
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_join_accounts_for_every_row_and_writes_parquet_and_rejects() {
    let grids = || {
        let (model, _) = tiny_county();
        let loc = Locator::new(&model, Strategy::Cells);
        Ok((model, loc))
    };
    let dir = tempfile::tempdir().unwrap();
    let (pq, rj) = (
        dir.path().join("joined.parquet"),
        dir.path().join("rejects.csv"),
    );
    let h = hasher();
    let v = validator(&h);
    let files = [
        fixture("events/edge_cases.csv"),
        fixture("events/edge_cases.jsonl"),
    ];
    let out = JoinOutput {
        parquet: &pq,
        rejects: &rj,
        earlier: &[],
    };
    let s = join_files(
        &grids,
        &files,
        None,
        &v,
        &Default::default(),
        &out,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.read, 21);
    assert!(s.balanced(), "{s:?}");
    // e01 sent again, open after its closure and without a version time:
    // older than the closed version read first (CONTRACT.md), so stale.
    assert_eq!((s.stale, s.updated, s.unchanged, s.conflicts), (1, 0, 0, 0));
    // e01 e02 e13 e14 e15 j1 j2 j3 matched; e03 (hole) e04 (gap) partial; e05 outside.
    assert_eq!((s.matched, s.partial, s.outside), (8, 2, 1), "{s:?}");
    assert_eq!(s.rejected, 9);
    let df = LazyFrame::scan_parquet(PlRefPath::from(pq.to_str().unwrap()), Default::default())
        .and_then(wangge::join::with_missing_columns)
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(df.height() as u64, s.matched + s.partial + s.outside);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, c::ALL);
    // Its times say they are instants, so a reader shows them in its own
    // zone, and the file given back as input reads the same times.
    let meta = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .get_metadata()
        .unwrap()
        .clone();
    let adjusted: Vec<(String, bool)> =
        meta.schema()
            .fields()
            .iter()
            .filter_map(|f| match f {
                polars_parquet::parquet::schema::types::ParquetType::PrimitiveType(p) => {
                    match p.logical_type {
                    Some(polars_parquet::parquet::schema::types::PrimitiveLogicalType::Timestamp {
                        is_adjusted_to_utc,
                        ..
                    }) => Some((p.field_info.name.to_string(), is_adjusted_to_utc)),
                    _ => None,
                }
                }
                _ => None,
            })
            .collect();
    assert_eq!(adjusted.len(), c::INSTANTS.len(), "{adjusted:?}");
    assert!(adjusted.iter().all(|(_, utc)| *utc), "{adjusted:?}");
    let (again, _, again_rej, _) = read_all(&pq).unwrap();
    let (first, _, _, _) = read_all(&fixture("events/edge_cases.csv")).unwrap();
    let e01 =
        |es: &[wangge::ingest::Event]| es.iter().find(|e| e.id == "e01").map(|e| e.occurred_at);
    assert!(e01(&first).is_some());
    assert_eq!(e01(&again), e01(&first), "{again_rej:?}");
    let rejects = std::fs::read_to_string(&rj).unwrap();
    assert_eq!(rejects.lines().count() as u64, 1 + s.rejected);
    assert!(!rejects.contains(",e01,"), "{rejects}");
    let all = format!("{df:?}");
    assert!(!all.contains("H-001") && !all.contains("张三"));
}

#[test]
fn a_parquet_file_with_typed_columns_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let ts = Int64Chunked::new(
        "occurred_at".into(),
        &[1_772_325_000_000_000i64, 1_772_325_000_000_000],
    )
    .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    .into_series();
    let mut df = DataFrame::new(
        2,
        vec![
            Column::new("id".into(), &["p1", "p2"]),
            Column::new("kind".into(), &["incident", "incident"]),
            ts.into(),
            Column::new("lon".into(), &[115.015f64, f64::NAN]),
            Column::new("lat".into(), &[38.505f64, 38.5]),
            Column::new("category".into(), &["盗窃", "盗窃"]),
            Column::new("cleared".into(), &[true, false]),
        ],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let (events, rows, rej, read) = read_all(&path).unwrap();
    assert_eq!(read, 2);
    assert_eq!(events[0].occurred_at, 1_772_325_000_000_000);
    assert_eq!(events[0].cleared, Some(true));
    assert_eq!(rows, [1]);
    assert_eq!((rej[0].row, rej[0].column.as_str()), (2, "lon"));
}

/// Ids and household numbers sent as integers keep every digit: read as
/// floats, 18-digit numbers lost their last digits, so two visits to two
/// households became one visit (the second "unchanged") and their
/// households one hash. Parquet integer columns (signed and unsigned) and
/// JSON numbers alike; a number where a time belongs is refused in words.
#[test]
fn integer_ids_and_households_are_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (130_682_001_001_001_001i64, 130_682_001_001_001_002i64);
    let path = dir.path().join("visits.parquet");
    let mut df = DataFrame::new(
        2,
        vec![
            Column::new("id".into(), &[a, b]),
            Column::new("kind".into(), &["visit", "visit"]),
            Column::new(
                "occurred_at".into(),
                &["2026-03-01 08:00", "2026-03-01 09:00"],
            ),
            Column::new("lon".into(), &[115.015f64, 115.015]),
            Column::new("lat".into(), &[38.505f64, 38.505]),
            Column::new("category".into(), &["入户走访", "入户走访"]),
            Column::new("household".into(), &[a as u64, b as u64]),
        ],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let (events, _, rej, read) = read_all(&path).unwrap();
    assert_eq!((read, rej.len()), (2, 0), "{rej:?}");
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [a.to_string(), b.to_string()]);
    assert_ne!(events[0].household_hash, events[1].household_hash);

    let lines = dir.path().join("visits.jsonl");
    std::fs::write(
        &lines,
        format!(
            "{{\"id\":{a},\"kind\":\"visit\",\"occurred_at\":\"2026-03-01 08:00\",\"lon\":115.015,\"lat\":38.505,\"category\":\"入户走访\",\"household\":{a}}}\n\
             {{\"id\":{b},\"kind\":\"visit\",\"occurred_at\":\"2026-03-01 09:00\",\"lon\":115.015,\"lat\":38.505,\"category\":\"入户走访\",\"household\":{b}}}\n\
             {{\"id\":\"t1\",\"kind\":\"incident\",\"occurred_at\":1772325000,\"lon\":115,\"lat\":38.505,\"category\":\"盗窃\"}}\n"
        ),
    )
    .unwrap();
    let (json, _, rej, read) = read_all(&lines).unwrap();
    assert_eq!((read, json.len()), (3, 2), "{rej:?}");
    let ids: Vec<&str> = json.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [a.to_string(), b.to_string()]);
    // The same household hashes the same whichever way it came.
    assert_eq!(json[0].household_hash, events[0].household_hash);
    let (col, why) = reason_of(&rej, 3);
    assert_eq!(col, "occurred_at");
    assert!(why.contains("a number, not a timestamp"), "{why}");
}

/// An issue's `updated_at`, `resolved_at` and `deadline` are held to the
/// dates an event may carry, as `occurred_at` is: a version time typed a
/// century ahead made every later row of the case stale (the case frozen
/// as first reported), and a deadline of 1900 or 9999 was kept. A
/// deadline years ahead is a deadline.
#[test]
fn an_issue_s_other_times_are_held_to_the_dates_an_event_may_carry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("times.csv");
    let ahead = (chrono::Utc::now() + chrono::Duration::days(3 * 365)).format("%Y-%m-%d");
    std::fs::write(
        &path,
        format!(
            "id,kind,occurred_at,lon,lat,category,status,updated_at,resolved_at,deadline\n\
             a,issue,2026-03-01 08:00,115.0,38.5,环境卫生,open,2126-03-01 08:00,,\n\
             b,issue,2026-03-01 08:00,115.0,38.5,环境卫生,resolved,,9999-12-31 23:59,\n\
             c,issue,2026-03-01 08:00,115.0,38.5,环境卫生,open,,,1900-01-01 00:00\n\
             d,issue,2026-03-01 08:00,115.0,38.5,环境卫生,open,2026-03-02 08:00,,{ahead} 00:00\n"
        ),
    )
    .unwrap();
    let (ok, _, rej, _) = read_all(&path).unwrap();
    let ids: Vec<&str> = ok.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["d"], "{rej:?}");
    for (row, column, why) in [
        (2, "updated_at", "ahead_days"),
        (3, "resolved_at", "ahead_days"),
        (4, "deadline", "earliest"),
    ] {
        let (col, reason) = reason_of(&rej, row);
        assert_eq!(col, column);
        assert!(reason.contains(why), "{reason}");
    }
}

/// Rows of a file with CR LF line ends (as Windows and Excel write) are
/// numbered by their line as those of LF files are: the CSV reader starts
/// a record at the LF of the line before, and every rejected row was
/// named one line too early.
#[test]
fn rows_of_a_crlf_file_are_numbered_by_their_line() {
    let dir = tempfile::tempdir().unwrap();
    // CR LF, and CR alone (Excel for Mac's "CSV (Macintosh)", whose rows
    // were all numbered 1).
    for end in ["\r\n", "\r"] {
        let path = dir.path().join("crlf.csv");
        std::fs::write(
            &path,
            "id,kind,occurred_at,lon,lat,category\r\n\
             a,incident,2026-03-01 08:00,115.0,38.5,盗窃\r\n\
             b,incident,2026-03-01 08:00,115.0,x,盗窃\r\n\
             c,incident,2026-03-01 08:00,115.0,38.5,\"two\r\nlines\"\r\n\
             d,incident,2026-03-01 08:00,115.0,38.5,\r\n"
                .replace("\r\n", end),
        )
        .unwrap();
        let (ok, rows, rej, _) = read_all(&path).unwrap();
        assert_eq!((ok.len(), rows), (1, vec![2]), "{end:?} {rej:?}");
        let got: Vec<(u64, &str)> = rej.iter().map(|r| (r.row, r.column.as_str())).collect();
        assert_eq!(
            got,
            [(3, "lat"), (4, "category"), (6, "category")],
            "{end:?}"
        );
        let updates = dir.path().join("updates.csv");
        std::fs::write(
            &updates,
            "issue_id,update_id,at,status\r\nC1,u1,2026-03-01 09:00,受理\r\nC1,u2,2026-03-01 10:00,飞走\r\n"
                .replace("\r\n", end),
        )
        .unwrap();
        let ((steps, rejects), _) = read_steps(&updates);
        assert_eq!((steps[0].0, rejects[0].row), (2, 3), "{end:?} {rejects:?}");
    }
}

/// A Parquet file whose times are `ts` (µs), typed as `tz` has them, with
/// `extra` columns beside; written by polars as an upstream export would.
fn parquet_with_times(
    path: &std::path::Path,
    name: &str,
    ts: &[i64],
    tz: Option<TimeZone>,
    mut cols: Vec<Column>,
) {
    let t = Int64Chunked::new(name.into(), ts)
        .into_datetime(TimeUnit::Microseconds, tz)
        .into_column();
    cols.insert(0, t);
    let mut df = DataFrame::new_infer_height(cols).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

/// A Parquet timestamp without a zone (`isAdjustedToUTC = false`, what
/// pandas, polars and Arrow write for a naive column) holds wall-clock
/// readings: they are read in the configured zone, as the text form
/// `2026-03-01 08:30` is. One adjusted to UTC is an instant as it stands.
#[test]
fn a_parquet_time_without_a_zone_is_read_in_the_configured_zone() {
    let dir = tempfile::tempdir().unwrap();
    // The digits of 2026-03-01 08:30, as the file holds them.
    const DIGITS_0830: i64 = 1_772_353_800_000_000;
    const HOUR: i64 = 3_600_000_000;
    let others = || {
        vec![
            Column::new("id".into(), &["p1"]),
            Column::new("kind".into(), &["incident"]),
            Column::new("lon".into(), &[115.015f64]),
            Column::new("lat".into(), &[38.505f64]),
            Column::new("category".into(), &["盗窃"]),
        ]
    };
    let mut at = Vec::new();
    for (file, tz) in [("wall.parquet", None), ("utc.parquet", Some(TimeZone::UTC))] {
        let path = dir.path().join(file);
        parquet_with_times(&path, "occurred_at", &[DIGITS_0830], tz, others());
        let (events, _, rej, _) = read_all(&path).unwrap();
        assert!(rej.is_empty(), "{rej:?}");
        at.push(events[0].occurred_at);
    }
    // 08:30 in Shanghai is 00:30 UTC; 08:30 UTC stays.
    assert_eq!(at, [DIGITS_0830 - 8 * HOUR, DIGITS_0830]);
    assert_eq!(
        at[0],
        wangge::ingest::time::parse_timestamp("2026-03-01 08:30", wangge::ingest::time::DEFAULT_TZ)
            .unwrap()
    );
    // A case update's step time, the same way.
    let path = dir.path().join("updates.parquet");
    parquet_with_times(
        &path,
        "at",
        &[DIGITS_0830],
        None,
        vec![
            Column::new("issue_id".into(), &["C1"]),
            Column::new("update_id".into(), &["u1"]),
            Column::new("status".into(), &["受理"]),
        ],
    );
    let ((steps, rejects), _) = read_steps(&path);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(steps[0].1.at, DIGITS_0830 - 8 * HOUR);
}

/// Every step and reject of a case-update file, and the rows of each chunk
/// the streaming reader handed on.
fn read_steps(path: &std::path::Path) -> (wangge::ingest::StepsRead, Vec<usize>) {
    let h = hasher();
    let v = validator(&h);
    let (mut all, mut chunks) = (wangge::ingest::StepsRead::default(), Vec::new());
    let n = wangge::ingest::read_updates_with(path, &v, &mut |(s, r)| {
        chunks.push(s.len() + r.len());
        all.0.extend(s);
        all.1.extend(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(n as usize, all.0.len() + all.1.len(), "every row counted");
    (all, chunks)
}

/// A long case-update file streams in chunks of `BATCH_ROWS` rows, every
/// row numbered by its line, in file order.
#[test]
fn a_long_update_file_streams_in_chunks_with_every_row_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("updates.csv");
    let n = wangge::ingest::BATCH_ROWS + 1000;
    let mut text = String::from("issue_id,update_id,at,status\n");
    for i in 0..n {
        let status = if i % 1000 == 999 { "飞走" } else { "受理" };
        text.push_str(&format!("C{i},u{i},2026-03-01 09:00,{status}\n"));
    }
    std::fs::write(&p, text).unwrap();
    let ((steps, rejects), chunks) = read_steps(&p);
    assert_eq!(chunks, [wangge::ingest::BATCH_ROWS, 1000]);
    assert_eq!(rejects.len(), n / 1000);
    assert!(rejects
        .iter()
        .all(|r| r.column == "status" && r.row % 1000 == 1));
    let lines: Vec<u64> = steps.iter().map(|(row, _)| *row).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(steps[0], (2, steps[0].1.clone()));
    assert_eq!(steps[0].1.issue_id, "C0");
    assert_eq!(steps.last().unwrap().1.issue_id, format!("C{}", n - 1));
}

/// A GBK update file with one byte GBK cannot read loses that row only,
/// named by line and column; a TSV update file is read by its tabs.
#[test]
fn a_bad_byte_in_an_update_file_costs_its_row_and_tsv_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let gbk = dir.path().join("updates.csv");
    let mut bytes = b"issue_id,update_id,at,status,note\n".to_vec();
    bytes.extend_from_slice(b"A-1,u1,2026-03-01 09:00,\xCA\xDC\xC0\xED,\n"); // 受理
    bytes.extend_from_slice(b"A-2,u1,2026-03-01 09:00,\xCA\xDC\xC0\xED,\xFF\n");
    bytes.extend_from_slice(b"A-3,u1,2026-03-01 09:00,\xCA\xDC\xC0\xED,\n");
    std::fs::write(&gbk, bytes).unwrap();
    let ((steps, rejects), _) = read_steps(&gbk);
    let ids: Vec<&str> = steps.iter().map(|(_, s)| s.issue_id.as_str()).collect();
    assert_eq!(ids, ["A-1", "A-3"]);
    assert_eq!(steps[0].1.state, "accepted", "受理 read from GBK");
    assert_eq!(rejects.len(), 1);
    assert_eq!((rejects[0].row, rejects[0].column.as_str()), (3, "note"));
    assert!(rejects[0].reason.contains("malformed"), "{:?}", rejects[0]);

    let tsv = dir.path().join("updates.tsv");
    std::fs::write(
        &tsv,
        "工单编号\t环节编号\t操作时间\t状态\nA-1\tu1\t2026-03-01 09:00\t受理\n",
    )
    .unwrap();
    let ((steps, rejects), _) = read_steps(&tsv);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!((steps[0].0, steps[0].1.issue_id.as_str()), (2, "A-1"));
}

#[test]
fn a_quote_left_open_says_which_lines_it_took_into_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open_quote.csv");
    let mut csv = String::from("id,kind,occurred_at,lon,lat,category\n");
    for i in 1..=3 {
        csv.push_str(&format!("q{i},incident,2026-03-01 08:00,115.0,38.5,盗窃\n"));
    }
    // Line 5 opens a quote that nothing closes: lines 6-10 become part of it.
    csv.push_str("q4,incident,2026-03-01 08:00,115.0,38.5,\"unterminated\n");
    for i in 5..=9 {
        csv.push_str(&format!("q{i},incident,2026-03-01 08:00,115.0,38.5,盗窃\n"));
    }
    std::fs::write(&path, csv).unwrap();
    let (events, _, rej, read) = read_all(&path).unwrap();
    assert_eq!((events.len(), rej.len(), read), (3, 1, 4));
    let (col, why) = reason_of(&rej, 5);
    assert_eq!(col, "category");
    assert!(why.contains("runs over lines 5-10"), "{why}");
}

/// A quote opened in the last row of a file and never closed runs to the
/// end of the file, with no row after it to give it away: the CSV reader
/// ends the value there as if closed, and the row was joined with status
/// "open" (or a category holding a line break). It is rejected, naming the
/// column and the line, in event files (CSV and TSV, any encoding) and in
/// update files; a last value closed, or a quote inside a value not
/// quoted, is read as before.
#[test]
fn a_quote_left_open_in_the_last_row_of_a_file_rejects_that_row() {
    let dir = tempfile::tempdir().unwrap();
    let head = "id,kind,occurred_at,lon,lat,category,status\n";
    let row = |i: usize| format!("q{i},issue,2026-03-01 08:00,115.0,38.5,环境卫生,open\n");
    let cases: [(&str, &str, Option<&str>); 5] = [
        (
            "open.csv",
            "q9,issue,2026-03-01 08:00,115.0,38.5,环境卫生,\"open",
            Some("status"),
        ),
        (
            "open_mid.csv",
            "q9,issue,2026-03-01 08:00,115.0,38.5,\"环境\n卫生,open\n",
            Some("category"),
        ),
        (
            "closed.csv",
            "q9,issue,2026-03-01 08:00,115.0,38.5,环境卫生,\"open\"\n",
            None,
        ),
        (
            "doubled.csv",
            "q9,issue,2026-03-01 08:00,115.0,38.5,\"环境\"\"卫生\"\"\",open",
            None,
        ),
        (
            "literal.csv",
            "q9,issue,2026-03-01 08:00,115.0,38.5,环境\"卫生,open",
            None,
        ),
    ];
    for (name, last, rejected) in cases {
        // Once with enough rows before it that the last row falls in a
        // later batch than the first.
        let n = match name {
            "open.csv" => wangge::ingest::BATCH_ROWS + 3,
            _ => 3,
        };
        let mut text = String::from(head);
        (1..=n).for_each(|i| text.push_str(&row(i)));
        text.push_str(last);
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        let (ok, _, rej, read) = read_all(&path).unwrap();
        assert_eq!(read as usize, n + 1, "{name}: every row accounted for");
        match rejected {
            Some(column) => {
                assert_eq!((ok.len(), rej.len()), (n, 1), "{name}: {rej:?}");
                let (col, why) = reason_of(&rej, n as u64 + 2);
                assert_eq!(col, column, "{name}");
                assert!(why.contains("never closed"), "{name}: {why}");
            }
            None => assert_eq!((ok.len(), rej.len()), (n + 1, 0), "{name}: {rej:?}"),
        }
    }
    // Tab-separated and GBK: the delimiter and the encoding are the file's.
    let tsv = dir.path().join("open.tsv");
    std::fs::write(
        &tsv,
        "id\tkind\toccurred_at\tlon\tlat\tcategory\nt1\tissue\t2026-03-01 08:00\t115.0\t38.5\t\"盗窃",
    )
    .unwrap();
    let (ok, _, rej, _) = read_all(&tsv).unwrap();
    assert_eq!((ok.len(), reason_of(&rej, 2).0), (0, "category"));
    let gbk = dir.path().join("open_gbk.csv");
    let mut bytes = b"id,kind,occurred_at,lon,lat,category\n".to_vec();
    bytes.extend_from_slice(b"g1,incident,2026-03-01 08:00,115.0,38.5,\xBB\xB7\xBE\xB3\n"); // 环境
    bytes.extend_from_slice(b"g2,incident,2026-03-01 08:00,115.0,38.5,\"\xBB\xB7\xBE\xB3");
    std::fs::write(&gbk, bytes).unwrap();
    let (ok, _, rej, _) = read_all(&gbk).unwrap();
    assert_eq!((ok.len(), reason_of(&rej, 3).0), (1, "category"), "{rej:?}");

    // An update file: the last step's note left open.
    let path = dir.path().join("updates.csv");
    let csv = "issue_id,update_id,at,status,note\n\
               C1,u1,2026-03-01 09:00,受理,\n\
               C1,u2,2026-03-01 10:00,结案,\"已处理";
    std::fs::write(&path, csv).unwrap();
    let ((steps, rejects), _) = read_steps(&path);
    assert_eq!(steps.len(), 1, "{rejects:?}");
    let r = &rejects[0];
    assert_eq!((r.row, r.column.as_str()), (3, "note"), "{r:?}");
    assert!(r.reason.contains("never closed"), "{r:?}");
    std::fs::write(&path, format!("{csv}\"\n")).unwrap();
    let ((steps, rejects), _) = read_steps(&path);
    assert_eq!((steps.len(), rejects.len()), (2, 0), "{rejects:?}");
}

/// A case-update file's rows are numbered by the line they begin on, as
/// the events' are: a note with a line break in it does not shift the
/// numbers of the rows after it (they were counted by rows, one short per
/// break), and a quote left open says which lines it took.
#[test]
fn update_rows_are_numbered_by_their_line_and_an_open_quote_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("updates.csv");
    let csv = "issue_id,update_id,at,status,note\n\
               C1,u1,2026-03-01 09:00,受理,\"two\nlines\"\n\
               C1,u2,2026-03-01 10:00,飞走,\n\
               C1,u3,2026-03-01 11:00,\"办结,open\n\
               C1,u4,2026-03-01 12:00,派遣,\n";
    std::fs::write(&path, csv).unwrap();
    let ((steps, rejects), _) = read_steps(&path);
    assert_eq!(steps.len(), 1, "{rejects:?}");
    assert_eq!(steps[0].0, 2);
    let rows: Vec<(u64, &str)> = rejects.iter().map(|r| (r.row, r.reason.as_str())).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    // The row of 飞走 begins on line 4, after the two lines of the note.
    assert_eq!(rows[0].0, 4, "{rows:?}");
    assert!(
        rows[1].0 == 5 && rows[1].1.contains("runs over lines 5-6"),
        "{rows:?}"
    );
}

/// A quote opened in a free-text note and never closed takes the rows
/// after it into the note: the row still looked valid, so the file loaded
/// one step and lost the other two without a word. The row is now
/// rejected, naming the note and the lines it took in; an event file's
/// last column likewise.
#[test]
fn a_note_that_swallows_the_rows_after_it_is_rejected_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("updates.csv");
    let csv = "issue_id,update_id,at,status,note\n\
               C1,u1,2026-03-01 09:00,受理,\"居民要求尽快处理\n\
               C1,u2,2026-03-01 10:00,派遣,\n\
               C1,u3,2026-03-01 11:00,结案,\n";
    std::fs::write(&path, csv).unwrap();
    let ((steps, rejects), _) = read_steps(&path);
    assert!(steps.is_empty(), "{steps:?}");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let r = &rejects[0];
    assert_eq!((r.row, r.column.as_str()), (2, "note"), "{r:?}");
    assert!(
        r.reason.contains("runs over lines 2-4") && r.reason.contains("takes in line 3"),
        "{r:?}"
    );
    // A note with a line break and no row in it is a note.
    std::fs::write(
        &path,
        "issue_id,update_id,at,status,note\nC1,u1,2026-03-01 09:00,受理,\"第一行\n第二行, 见附件\"\n",
    )
    .unwrap();
    let ((steps, rejects), _) = read_steps(&path);
    assert_eq!((steps.len(), rejects.len()), (1, 0), "{rejects:?}");

    let events = dir.path().join("events.csv");
    let mut text = String::from("id,kind,occurred_at,lon,lat,category\n");
    text.push_str("s1,issue,2026-03-01 08:00,115.0,38.5,\"占道经营\n");
    text.push_str("s2,issue,2026-03-01 09:00,115.0,38.5,环境卫生\n");
    std::fs::write(&events, text).unwrap();
    let (ok, _, rej, read) = read_all(&events).unwrap();
    assert_eq!((ok.len(), rej.len(), read), (0, 1, 1));
    let (col, why) = reason_of(&rej, 2);
    assert_eq!(col, "category");
    assert!(why.contains("takes in line 3"), "{why}");
}

/// A quote left open in a visit's `visitor` (hashed, never shown) took the
/// rows after it into the name when those rows left their empty trailing
/// values off: fewer delimiters than the header, so no line looked like a
/// row, and three incidents vanished into a hash. A line with every
/// required column and a time where the time goes is a row; a line break
/// in a household number or a name is refused as in an id, the reason
/// naming no value.
#[test]
fn a_quote_left_open_in_a_name_does_not_hide_short_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.csv");
    let head = "id,kind,occurred_at,lon,lat,category,status,resolved_at,deadline,satisfaction,source,cleared,household,visitor\n";
    let mut text = String::from(head);
    text.push_str("V1,visit,2026-03-01 08:30,115.0,38.5,入户走访,,,,,,,H1,\"张三\n");
    for i in 2..=4 {
        text.push_str(&format!("C{i},incident,2026-03-01 08:30,115.0,38.5,诈骗\n"));
    }
    text.push_str("C5,incident,2026-03-01 08:30,115.0,38.5,诈骗\"\n");
    text.push_str("C6,incident,2026-03-01 08:30,115.0,38.5,诈骗\n");
    std::fs::write(&path, &text).unwrap();
    let (ok, _, rej, read) = read_all(&path).unwrap();
    assert_eq!((ok.len(), rej.len(), read), (1, 1, 2), "{rej:?}");
    let (col, why) = reason_of(&rej, 2);
    assert_eq!(col, "visitor");
    assert!(why.contains("takes in line 3"), "{why}");
    assert!(!why.contains("张三"), "{why}");

    // Closed on the same line, a name is a name; a household number with
    // a line break in it is refused, and the number is not echoed.
    let mut text = String::from(head);
    text.push_str("V1,visit,2026-03-01 08:30,115.0,38.5,入户走访,,,,,,,H1,\"张, 三\"\n");
    text.push_str("V2,visit,2026-03-01 08:30,115.0,38.5,入户走访,,,,,,,\"H-77\n01\",李四\n");
    std::fs::write(&path, &text).unwrap();
    let (ok, _, rej, _) = read_all(&path).unwrap();
    assert_eq!(ok.len(), 1, "{rej:?}");
    let (col, why) = reason_of(&rej, 3);
    assert_eq!(col, "household");
    assert!(
        why.contains("control character") && !why.contains("H-77"),
        "{why}"
    );
    // A multi-line note whose lines are no rows stays one value.
    let notes = dir.path().join("updates.csv");
    std::fs::write(
        &notes,
        "issue_id,update_id,at,status,note\nC1,u1,2026-03-01 09:00,受理,\"一, 二, 三\n四, 五, 六, 七\"\n",
    )
    .unwrap();
    let ((steps, rejects), _) = read_steps(&notes);
    assert_eq!((steps.len(), rejects.len()), (1, 0), "{rejects:?}");
}

/// A delimiter inside a value that is not quoted moves every value after
/// it one column on: a visit's household number `3栋,201` put `201` into
/// `category` and the visitor's name into the column after, and the row
/// was accepted, its household counted as `3栋` and a value meant to be
/// hashed stored in clear as a category. Such a row (more values than the
/// header has columns) is now rejected, the reason telling no value; a
/// blank value past the header (a delimiter ending every row) is none.
#[test]
fn a_row_with_more_values_than_the_header_is_rejected_without_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.csv");
    std::fs::write(
        &path,
        "id,kind,occurred_at,lon,lat,household,category,visitor\n\
         v1,visit,2026-03-01 08:00,115.0,38.5,3栋201,入户走访,王干部\n\
         v2,visit,2026-03-01 08:00,115.0,38.5,3栋,305,入户走访,王干部\n\
         v3,visit,2026-03-01 08:00,115.0,38.5,3栋305,入户走访,王干部,\n",
    )
    .unwrap();
    let (ok, _, rej, read) = read_all(&path).unwrap();
    assert_eq!((ok.len(), rej.len(), read), (2, 1, 3), "{rej:?}");
    let ids: Vec<&str> = ok.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["v1", "v3"]);
    assert!(ok.iter().all(|e| e.category == "入户走访"));
    let (_, why) = reason_of(&rej, 3);
    assert!(
        why.contains("9 values where the header has 8 columns"),
        "{why}"
    );
    for value in ["3栋", "305", "王干部", "入户走访"] {
        assert!(!why.contains(value), "{why}");
    }

    // A case update whose note holds a comma without quotes: the same.
    let updates = dir.path().join("updates.csv");
    std::fs::write(
        &updates,
        "issue_id,update_id,at,status,note\n\
         C1,u1,2026-03-01 09:00,受理,居民来电\n\
         C1,u2,2026-03-01 10:00,派遣,张三反映,身份证110101199001011234\n\
         C1,u3,2026-03-01 11:00,\"处置中\",\"已到场, 正在处理\"\n",
    )
    .unwrap();
    let ((steps, rejects), _) = read_steps(&updates);
    let kept: Vec<u64> = steps.iter().map(|s| s.0).collect();
    assert_eq!(kept, [2, 4], "{rejects:?}");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].row, 3);
    assert!(rejects[0]
        .reason
        .contains("6 values where the header has 5 columns"));
    assert!(!rejects[0].reason.contains("110101"), "{:?}", rejects[0]);
}
