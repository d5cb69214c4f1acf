//! The household archive from the command line: `init`, `import`, `export`, `check`, `summary`
//! and `gen` (synthetic archives for tests and demos).

use anyhow::{Context as _, bail};

use super::{CheckArgs, ExportArgs, GenArgs, GenFormat, ImportArgs, InitArgs, SummaryArgs};
use crate::archive::Archive;
use crate::settings::{Eligibility, Settings};
use crate::{eligibility, export, import, synth};

/// `init`: the settings and an empty archive in a new data folder.
pub async fn init(args: InitArgs) -> anyhow::Result<()> {
    let InitArgs {
        data,
        org,
        name,
        parent,
        tls,
        dibao_line,
        edge_ratio,
        vocabulary,
    } = args;
    if data.join(crate::settings::FILE_NAME).exists() {
        return Err(crate::settings::Error::AlreadyInitialised(data.display().to_string()).into());
    }
    if dibao_line.is_nan() || dibao_line <= 0.0 || !(1.0..=2.0).contains(&edge_ratio) {
        bail!(
            "--dibao-line must be positive and --edge-ratio between 1.0 and 2.0 / 低保线或边缘比例不合理"
        );
    }
    if data.exists() && crate::private::writable_by_others(&data)? {
        bail!(
            "{} can be written by other accounts (group or other write permission); the archive holds ID numbers and health data: use a folder only you can write (chmod 700) / 数据目录对其他用户可写,拒绝初始化",
            data.display()
        );
    }
    crate::private::create_dir(&data).with_context(|| format!("creating {}", data.display()))?;
    // The folder is narrowed too when it existed: nobody else lists or opens what is inside.
    crate::private::restrict(&data, true)
        .with_context(|| format!("restricting {} to its owner", data.display()))?;
    if let Some(v) = vocabulary {
        let text =
            std::fs::read_to_string(&v).with_context(|| format!("reading {}", v.display()))?;
        bangfu_shared::vocabulary::Vocabulary::parse(&text)
            .with_context(|| format!("checking {}", v.display()))?;
        std::fs::write(data.join(crate::settings::VOCABULARY_FILE), text)?;
    }
    let settings = Settings {
        org,
        name,
        parent,
        tls,
        parent_org: None,
        eligibility: Eligibility {
            dibao_line,
            edge_ratio,
            ..Eligibility::default()
        },
        change_policy: Default::default(),
    };
    Archive::open(&data, true)
        .await
        .context("creating the archive")?
        .close()
        .await;
    settings.save(&data)?;
    println!(
        "节点已建立 / node created: {} {} in {}",
        settings.org,
        settings.name,
        data.display()
    );
    Ok(())
}

/// `import`: each file in one transaction, its refused rows in FILE.rejects.csv.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let ImportArgs { data, files, json } = args;
    let settings = Settings::load(&data)?;
    let vocabulary = Settings::vocabulary(&data)?;
    let archive = Archive::open(&data, false).await?;
    let ctx = import::Context {
        org: settings.org.clone(),
        vocabulary: &vocabulary,
        today: bangfu_shared::time::local_day(chrono::Utc::now()),
        progress: !json,
    };
    for file in &files {
        let outcome = import::import_file(&archive, &ctx, file)
            .await
            .with_context(|| {
                format!(
                    "importing {} (nothing was changed / 未做任何修改)",
                    file.display()
                )
            })?;
        if json {
            println!("{}", serde_json::to_string(&outcome)?);
        } else {
            print_outcome(&outcome);
        }
    }
    if !json {
        print_counts(&archive).await?;
    }
    archive.close().await;
    Ok(())
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let ExportArgs { data, out } = args;
    Settings::load(&data)?;
    let archive = Archive::open(&data, false).await?;
    for path in export::export(&archive, &out).await? {
        println!("已导出 / written: {}", path.display());
    }
    archive.close().await;
    Ok(())
}

/// `check`: households whose recorded category the local rules do not support.
pub async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let CheckArgs { data, limit } = args;
    let settings = Settings::load(&data)?;
    let archive = Archive::open(&data, false).await?;
    let rules = settings.eligibility;
    let warnings = eligibility::check(&archive, &rules).await?;
    for w in warnings.iter().take(limit) {
        println!("{}", w.describe(&rules));
    }
    let gone = warnings.iter().filter(|w| w.derived.is_none()).count();
    println!(
        "精准识别 / eligibility: {} 户需核实 households to review ({} 类别不符 category disagrees, {} 已不符合条件 no longer qualify)",
        warnings.len(),
        warnings.len() - gone,
        gone
    );
    archive.close().await;
    Ok(())
}

pub async fn summary(args: SummaryArgs) -> anyhow::Result<()> {
    let SummaryArgs { data } = args;
    Settings::load(&data)?;
    let archive = Archive::open(&data, false).await?;
    print_counts(&archive).await?;
    archive.close().await;
    Ok(())
}

/// `gen`: a synthetic archive in the import format.
pub fn generate(args: GenArgs) -> anyhow::Result<()> {
    let GenArgs {
        org,
        households,
        seed,
        invalid,
        format,
        dibao_line,
        edge_ratio,
        out,
    } = args;
    if !(0.0..=1.0).contains(&invalid) {
        bail!("--invalid is a share from 0 to 1 / --invalid 应在 0 到 1 之间");
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let vocabulary = bangfu_shared::vocabulary::Vocabulary::builtin();
    let opts = synth::Options {
        org,
        households,
        seed,
        invalid_rate: invalid,
        today: bangfu_shared::time::local_day(chrono::Utc::now()),
        dibao_line_yuan: dibao_line,
        edge_ratio,
        vocabulary: &vocabulary,
        format: match format {
            GenFormat::Csv => synth::Format::Csv,
            GenFormat::CsvGbk => synth::Format::CsvGbk,
            GenFormat::Xlsx => synth::Format::Xlsx,
        },
    };
    let summary = synth::generate(&opts, &out).context("generating the synthetic archive")?;
    println!(
        "已生成 / generated: {} households ({} invalid), {} members ({} invalid), {} aid records ({} invalid)",
        summary.households,
        summary.invalid_households,
        summary.members,
        summary.invalid_members,
        summary.aid,
        summary.invalid_aid
    );
    for f in &summary.files {
        println!("  {}", f.display());
    }
    Ok(())
}

fn print_outcome(o: &import::Outcome) {
    let enc = o.encoding.map(|e| format!(" ({e})")).unwrap_or_default();
    println!("导入 / imported {}{}", o.file, enc);
    for s in &o.streams {
        let sheet = s
            .sheet
            .as_ref()
            .map(|n| format!(" [{n}]"))
            .unwrap_or_default();
        println!(
            "  {}{}: 读取 read {}, 新增 new {}, 更新 updated {}, 未变 unchanged {}, 拒绝 rejected {}",
            s.kind,
            sheet,
            s.rows_read,
            s.rows_new,
            s.rows_updated,
            s.rows_unchanged,
            s.rows_rejected
        );
        for (line, p) in &s.shown {
            println!(
                "    第 {line} 行 line {line}, {}「{}」: {}",
                p.column,
                p.value,
                p.violation.message()
            );
        }
        if s.rows_rejected as usize > s.shown.len() {
            println!(
                "    … ({} more / 其余见拒绝文件)",
                s.rows_rejected as usize - s.shown.len()
            );
        }
    }
    if let Some(r) = &o.rejects_file {
        println!(
            "  拒绝的行已写入 / rejected rows written to: {}",
            r.display()
        );
    }
}

async fn print_counts(archive: &Archive) -> anyhow::Result<()> {
    let c = archive.counts().await?;
    println!(
        "档案 / archive: {} 户 households (在档 {}, 已脱困 {}, 已剔除 {}), {} 家庭成员 members, {} 帮扶记录 aid records",
        c.households, c.on_file, c.lifted, c.removed, c.members, c.aid
    );
    Ok(())
}
