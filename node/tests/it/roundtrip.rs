//! Property: any generated archive survives import → export → import unchanged, through CSV and xlsx.

use std::path::Path;

use bangfu_node::archive::Archive;
use bangfu_node::{export, import, synth};
use bangfu_shared::org::OrgCode;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

async fn import_all(archive: &Archive, vocabulary: &Vocabulary, files: &[std::path::PathBuf]) {
    let ctx = import::Context {
        org: OrgCode::parse("H01").unwrap(),
        vocabulary,
        today: today(),
        progress: false,
    };
    for f in files {
        let outcome = import::import_file(archive, &ctx, f).await.unwrap();
        assert_eq!(
            outcome.rejected(),
            0,
            "{}: a re-imported export refuses nothing",
            f.display()
        );
    }
}

/// The archive's full text, via a CSV export.
async fn text_of(archive: &Archive, dir: &Path) -> String {
    let out = dir.join("dump.csv");
    export::export(archive, &out)
        .await
        .unwrap()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn round_trip(households: u64, seed: u64, invalid: f64, xlsx: bool) {
    let dir = tempfile::tempdir().unwrap();
    let vocabulary = Vocabulary::builtin();
    let opts = synth::Options {
        org: OrgCode::parse("H01").unwrap(),
        households,
        seed,
        invalid_rate: invalid,
        today: today(),
        dibao_line_yuan: 400,
        edge_ratio: 1.2,
        vocabulary: &vocabulary,
        format: synth::Format::Csv,
    };
    let summary = synth::generate(&opts, &dir.path().join("gen")).unwrap();
    for d in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let first = Archive::open(&dir.path().join("a"), true).await.unwrap();
        let ctx = import::Context {
            org: opts.org.clone(),
            vocabulary: &vocabulary,
            today: today(),
            progress: false,
        };
        for f in &summary.files[..3] {
            import::import_file(&first, &ctx, f).await.unwrap();
        }
        let before = text_of(&first, &dir.path().join("gen")).await;

        let exported = if xlsx {
            export::export(&first, &dir.path().join("archive.xlsx"))
                .await
                .unwrap()
        } else {
            export::export(&first, &dir.path().join("archive.csv"))
                .await
                .unwrap()
        };
        let second = Archive::open(&dir.path().join("b"), true).await.unwrap();
        import_all(&second, &vocabulary, &exported).await;
        let after = text_of(&second, &dir.path().join("gen")).await;
        assert_eq!(
            before, after,
            "the archive changed on its way through export and import"
        );
        assert_eq!(
            first.counts().await.unwrap(),
            second.counts().await.unwrap()
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_generated_archive_survives_import_export_import(
        households in 1u64..300,
        seed in any::<u64>(),
        invalid in prop_oneof![Just(0.0), 0.0f64..0.2],
        xlsx in any::<bool>(),
    ) {
        round_trip(households, seed, invalid, xlsx);
    }
}
