//! The county archive's import, as a county IT person runs it: real binary, real files from `files`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Imports every generated file and checks that exactly the rows the generator broke were refused,
/// each for the rule it broke, and that everything else was stored.
fn stores_exactly_the_valid_rows(format: &str, ext: &str) {
    let dir = tempfile::tempdir().unwrap();
    let n = 1500;
    let files = generate(dir.path(), "H01", n, 7, 0.05, format);
    let data = init_node(dir.path(), "H01");
    let manifest = manifest(&files);

    let mut stored = Vec::new();
    for kind in ["households", "members", "aid"] {
        let file = files.join(format!("{kind}.{ext}"));
        let out = ok(&["import", "--data", s(&data), "--json", s(&file)]);
        let outcome: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        let stream = &outcome["streams"][0];
        let read = stream["rows_read"].as_u64().unwrap();
        let rejected = stream["rows_rejected"].as_u64().unwrap();

        let expected = manifest
            .get(&format!("{kind}.{ext}"))
            .cloned()
            .unwrap_or_default();
        let got = rejects(
            &dir.path()
                .join("gen")
                .join(format!("{kind}.{ext}.rejects.csv")),
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{kind}: refused lines"
        );
        for (line, rule) in &expected {
            assert!(
                got[line].contains(&format!("[{rule}]")),
                "{kind} line {line}: expected [{rule}], got {}",
                got[line]
            );
        }
        assert_eq!(rejected, expected.len() as u64, "{kind}");
        stored.push(read - rejected);
    }
    assert!(
        manifest
            .get(&format!("households.{ext}"))
            .is_some_and(|m| m.len() >= 50),
        "the generator broke rows"
    );
    assert_eq!(
        stored[0] + manifest[&format!("households.{ext}")].len() as u64,
        n
    );
    assert_eq!(counts(&data), (stored[0], stored[1], stored[2]));
}

#[test]
fn a_utf8_csv_archive_stores_exactly_the_valid_rows() {
    stores_exactly_the_valid_rows("csv", "csv");
}

#[test]
fn a_gbk_csv_archive_stores_exactly_the_valid_rows() {
    stores_exactly_the_valid_rows("csv-gbk", "csv");
}

#[test]
fn an_xlsx_archive_stores_exactly_the_valid_rows() {
    stores_exactly_the_valid_rows("xlsx", "xlsx");
}

#[test]
fn importing_the_same_file_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "H01", 400, 3, 0.05, "csv");
    let data = init_node(dir.path(), "H01");
    for kind in ["households", "members", "aid"] {
        ok(&[
            "import",
            "--data",
            s(&data),
            s(&files.join(format!("{kind}.csv"))),
        ]);
    }
    let before = dump(&data, dir.path());
    for kind in ["households", "members", "aid"] {
        let out = ok(&[
            "import",
            "--data",
            s(&data),
            "--json",
            s(&files.join(format!("{kind}.csv"))),
        ]);
        let outcome: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(outcome["streams"][0]["rows_new"], 0, "{kind}");
        assert_eq!(outcome["streams"][0]["rows_updated"], 0, "{kind}");
    }
    assert_eq!(dump(&data, dir.path()), before);
}

#[test]
fn a_changed_row_updates_its_household_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "H01", 50, 5, 0.0, "csv");
    let data = init_node(dir.path(), "H01");
    let file = files.join("households.csv");
    ok(&["import", "--data", s(&data), s(&file)]);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1] = lines[1]
        .replacen(",在档,", ",已剔除,", 1)
        .replacen(",已脱困,", ",已剔除,", 1);
    let edited = dir.path().join("edited.csv");
    std::fs::write(&edited, lines[..2].join("\n")).unwrap();
    let out = ok(&["import", "--data", s(&data), "--json", s(&edited)]);
    let outcome: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(outcome["streams"][0]["rows_updated"], 1);
    assert_eq!(counts(&data).0, 50);
}

#[test]
fn an_import_killed_part_way_leaves_the_archive_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = init_node(dir.path(), "H");
    let small = generate(&dir.path().join("small"), "H", 200, 1, 0.0, "csv");
    ok(&[
        "import",
        "--data",
        s(&data),
        s(&small.join("households.csv")),
    ]);
    let before = dump(&data, dir.path());

    let big = generate(&dir.path().join("big"), "H", 300_000, 2, 0.0, "csv");
    let mut child = Command::new(bin())
        .args(["import", "--data", s(&data), s(&big.join("households.csv"))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the import has written a good part of its transaction to the WAL, then kill it.
    let wal = data.join("archive.db-wal");
    let start = Instant::now();
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 8 << 20 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import finished before it could be killed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the import wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert_eq!(dump(&data, dir.path()), before);
    assert_eq!(counts(&data).0, 200);
}

/// Files that are not archive files: one clear line on stderr, a non-zero exit, nothing changed.
#[test]
fn an_unreadable_binary_or_empty_file_exits_non_zero_with_one_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "H01", 30, 1, 0.0, "csv");
    let data = init_node(dir.path(), "H01");
    ok(&[
        "import",
        "--data",
        s(&data),
        s(&files.join("households.csv")),
    ]);
    let before = dump(&data, dir.path());

    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("empty.csv"), b"").unwrap();
    std::fs::write(p("bom-only.csv"), b"\xEF\xBB\xBF\r\n").unwrap();
    std::fs::write(p("binary.csv"), &std::fs::read(bin()).unwrap()[..4096]).unwrap();
    std::fs::write(
        p("workbook.csv"),
        std::fs::read(generate(&p("x"), "H01", 5, 1, 0.0, "xlsx").join("households.xlsx")).unwrap(),
    )
    .unwrap();
    std::fs::write(p("not-a-workbook.xlsx"), b"just text").unwrap();
    std::fs::write(
        p("unknown-column.csv"),
        "职工编号,姓名,性别,身份证号,困难类别,家庭人口,家庭年度总收入,档案状态,爱好\n",
    )
    .unwrap();
    std::fs::write(
        p("missing-column.csv"),
        "职工编号,姓名,性别,困难类别,家庭人口,家庭年度总收入,档案状态\n",
    )
    .unwrap();
    std::fs::write(p("notes.txt.doc"), "hello").unwrap();
    let cases = [
        ("missing.csv", "cannot read"),
        ("empty.csv", "is empty"),
        ("bom-only.csv", "is empty"),
        ("binary.csv", "not a CSV text file"),
        ("workbook.csv", "Excel workbook"),
        ("not-a-workbook.xlsx", "not a readable .xlsx"),
        ("unknown-column.csv", "unknown column `爱好`"),
        ("missing-column.csv", "missing required column `身份证号`"),
        ("notes.txt.doc", "only .csv and .xlsx"),
    ];
    for (name, says) in cases {
        let out = run(&["import", "--data", s(&data), s(&p(name))]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: exit status");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: one line, got {stderr}"
        );
        assert!(
            stderr.contains(says),
            "{name}: expected `{says}` in {stderr}"
        );
        assert!(
            !p(&format!("{name}.rejects.csv")).exists(),
            "{name}: no rejects file"
        );
    }
    assert_eq!(dump(&data, dir.path()), before);
}

#[test]
fn the_rejects_file_neutralises_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let data = init_node(dir.path(), "H01");
    let file = dir.path().join("h.csv");
    std::fs::write(
        &file,
        "职工编号,姓名,性别,身份证号,困难类别,家庭人口,家庭年度总收入,档案状态,家庭住址\n\
         H0100001,=HYPERLINK(\"http://example.invalid\"),女,11010519491231002X,特困户,3,-9000,在档,@SUM(A1)\n",
    )
    .unwrap();
    ok(&["import", "--data", s(&data), s(&file)]);
    let text = std::fs::read_to_string(dir.path().join("h.csv.rejects.csv")).unwrap();
    let row = text.lines().nth(1).unwrap();
    assert!(row.contains("'=HYPERLINK"), "{row}");
    assert!(row.contains("'@SUM(A1)"), "{row}");
    assert!(row.contains("'-9000"), "{row}");
    assert!(
        !row.contains(",=") && !row.contains(",@") && !row.contains(",-"),
        "{row}"
    );
}

#[test]
fn a_household_of_another_county_is_refused_by_org() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "H02", 10, 1, 0.0, "csv");
    let data = init_node(dir.path(), "H01");
    ok(&[
        "import",
        "--data",
        s(&data),
        s(&files.join("households.csv")),
    ]);
    let got = rejects(&files.join("households.csv.rejects.csv"));
    assert_eq!(got.len(), 10);
    assert!(got.values().all(|r| r.contains("[staff_no.org]")));
}
