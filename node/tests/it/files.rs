//! Personal data on a shared machine (issue 13): the archive, its WAL, exports and rejects are
//! created readable by their owner only, the data folder 0700, and `init` refuses a data folder
//! that other accounts can write. The real binary, under a permissive umask as a login shell has.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::common::{generate, ok, run, s};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_archive_exports_and_rejects_are_their_owners_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    ok(&[
        "init",
        "--data",
        s(&data),
        "--org",
        "H01",
        "--name",
        "测试县总工会",
    ]);
    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("archive.db")), 0o600, "the archive");

    let files = generate(dir.path(), "H01", 30, 7, 0.2, "csv");
    ok(&[
        "import",
        "--data",
        s(&data),
        s(&files.join("households.csv")),
    ]);
    let rejects = files.join("households.csv.rejects.csv");
    assert_eq!(
        mode(&rejects),
        0o600,
        "the rejects hold refused rows' values"
    );
    for f in ["archive.db-wal", "archive.db-shm"] {
        if data.join(f).exists() {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    let out = dir.path().join("export.csv");
    ok(&["export", "--data", s(&data), "--out", s(&out)]);
    for name in ["export.csv", "export.members.csv", "export.aid.csv"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    let xlsx = dir.path().join("export.xlsx");
    ok(&["export", "--data", s(&data), "--out", s(&xlsx)]);
    assert_eq!(mode(&xlsx), 0o600, "the xlsx export");
}

#[test]
fn init_refuses_a_data_folder_others_can_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shared");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(&[
        "init",
        "--data",
        s(&data),
        "--org",
        "H01",
        "--name",
        "测试县总工会",
    ]);
    assert!(!out.status.success(), "must refuse");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("can be written by other accounts"), "{err}");
    assert!(!data.join("archive.db").exists(), "nothing created");
    assert!(!data.join("node.toml").exists(), "nothing created");

    // An existing folder only its owner writes is taken, and narrowed to 0700.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&[
        "init",
        "--data",
        s(&mine),
        "--org",
        "H01",
        "--name",
        "测试县总工会",
    ]);
    assert_eq!(mode(&mine), 0o700);
}
