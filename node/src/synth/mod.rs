//! `bangfu-node gen`: realistic synthetic household archives in the import format, for demos, load
//! tests and the import tests, with no real person's data anywhere.
//!
//! Distributions follow the seeds (002 荆门 survey form, 004 绍兴 填表说明): categories, causes and
//! money agree with the 低保 line, ID numbers are valid and unique, staff numbers are sequential.
//! With `invalid_rate` some rows each break exactly one named [`Rule`], and `invalid.csv` lists them,
//! so an import can be checked against a known answer. Output is streamed: memory stays flat
//! however many households are asked for, and the same seed gives byte-identical files.

mod family;
mod household;
mod ids;
mod names;
mod sink;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use bangfu_shared::org::OrgCode;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::columns::Kind;
use crate::rules::Rule;
use ids::IdAllocator;
use names::Weighted;
use sink::Table;

/// The file format of the three data files. The manifest is always UTF-8 CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 with a byte-order mark, which Excel needs to read it as UTF-8.
    Csv,
    /// GBK, as Chinese Excel saves "CSV (逗号分隔)".
    CsvGbk,
    /// One workbook per kind, one sheet named by [`Kind::sheet_name`].
    Xlsx,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// The county (or prefecture) whose staff numbers the households get.
    pub org: OrgCode,
    pub households: u64,
    pub seed: u64,
    /// 0.0..=1.0: the share of household rows that each break exactly one rule; member and aid rows
    /// are broken at the same rate.
    pub invalid_rate: f64,
    /// Birth, filing, lifting and aid dates are never after it.
    pub today: NaiveDate,
    /// The local 低保 line, 元 per person per month (seed 004: 400).
    pub dibao_line_yuan: u32,
    /// The edge of the 低保边缘户 band as a multiple of the line (seed 004: 1.2, seed 002: 1.3).
    pub edge_ratio: f64,
    /// The enumerated values rows are drawn from.
    pub vocabulary: &'a Vocabulary,
    pub format: Format,
}

/// What was written. Counts include the deliberately invalid rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub households: u64,
    pub invalid_households: u64,
    pub members: u64,
    pub invalid_members: u64,
    pub aid: u64,
    pub invalid_aid: u64,
    /// The files written: households, members, aid, then the manifest `invalid.csv`.
    pub files: Vec<PathBuf>,
}

/// The manifest's file name.
pub const MANIFEST: &str = "invalid.csv";

/// Writes `households`, `members` and `aid` files and `invalid.csv` into `out_dir`.
pub fn generate(opts: &Options, out_dir: &Path) -> anyhow::Result<Summary> {
    check_options(opts)?;
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut out = Outputs::create(out_dir, opts.format)?;
    let temps = out.temp_paths();
    let result = Generator::new(opts)
        .run(&mut out)
        .and_then(|summary| out.finish(summary));
    if result.is_err() {
        for temp in temps {
            let _ = fs::remove_file(temp); // best effort: the run already failed
        }
    }
    result
}

fn check_options(opts: &Options) -> anyhow::Result<()> {
    let capacity = opts.org.staff_number_capacity();
    ensure!(
        opts.households <= capacity,
        "{} households do not fit the staff numbers of {} (at most {capacity}) / 户数超过本单位职工编号容量",
        opts.households,
        opts.org
    );
    ensure!(
        (0.0..=1.0).contains(&opts.invalid_rate),
        "the invalid rate must be between 0 and 1 / 错误行比例应在0到1之间"
    );
    ensure!(
        opts.dibao_line_yuan > 0,
        "the 低保 line must be above zero / 低保线应大于0"
    );
    ensure!(
        opts.edge_ratio.is_finite() && opts.edge_ratio >= 1.0,
        "the edge ratio must be 1.0 or more / 低保边缘比例应不小于1.0"
    );
    let first = NaiveDate::from_ymd_opt(2014, 2, 1).expect("a real date");
    ensure!(
        opts.today >= first,
        "today must be after {first}: archives are filed from 2014 on"
    );
    Ok(())
}

/// The three data files and the manifest, all under temporary names until the run is done.
struct Outputs {
    households: Table,
    members: Table,
    aid: Table,
    manifest: csv::Writer<BufWriter<File>>,
    manifest_temp: PathBuf,
    manifest_path: PathBuf,
}

impl Outputs {
    fn create(dir: &Path, format: Format) -> anyhow::Result<Outputs> {
        let manifest_path = dir.join(MANIFEST);
        let manifest_temp = dir.join(format!(".{MANIFEST}.partial"));
        let file = File::create(&manifest_temp)
            .with_context(|| format!("creating {}", manifest_temp.display()))?;
        let mut manifest = csv::Writer::from_writer(BufWriter::new(file));
        manifest
            .write_record(["file", "line", "rule"])
            .context("writing the manifest")?;
        Ok(Outputs {
            households: Table::create(dir, Kind::Households, format)?,
            members: Table::create(dir, Kind::Members, format)?,
            aid: Table::create(dir, Kind::Aid, format)?,
            manifest,
            manifest_temp,
            manifest_path,
        })
    }

    fn temp_paths(&self) -> Vec<PathBuf> {
        let tables = [&self.households, &self.members, &self.aid];
        let mut paths: Vec<PathBuf> = tables.iter().map(|t| t.temp_path().to_path_buf()).collect();
        paths.push(self.manifest_temp.clone());
        paths
    }

    /// Lists a deliberately broken row in the manifest.
    fn record(
        manifest: &mut csv::Writer<BufWriter<File>>,
        table: &Table,
        line: u32,
        rule: Rule,
    ) -> anyhow::Result<()> {
        let line = line.to_string();
        manifest
            .write_record([table.file_name.as_str(), &line, rule.name()])
            .context("writing the manifest")
    }

    fn finish(self, mut summary: Summary) -> anyhow::Result<Summary> {
        let Outputs {
            households,
            members,
            aid,
            mut manifest,
            manifest_temp,
            manifest_path,
        } = self;
        let finished = [households.finish()?, members.finish()?, aid.finish()?];
        manifest.flush().context("writing the manifest")?;
        drop(manifest);
        for f in finished {
            summary.files.push(f.commit()?);
        }
        fs::rename(&manifest_temp, &manifest_path)
            .with_context(|| format!("renaming {}", manifest_temp.display()))?;
        summary.files.push(manifest_path);
        Ok(summary)
    }
}

/// How many earlier valid households the duplicate cases may copy from: enough to look random,
/// small enough to keep memory flat.
const RECENT: usize = 256;

/// An earlier valid household, for the `id_number.duplicate` and `staff_no.duplicate` cases.
struct Recent {
    staff_no: String,
    id_number: String,
    sex: &'static str,
}

/// One run's state: the random stream, the ID allocator and a bounded memory of recent rows.
struct Generator<'a> {
    opts: &'a Options<'a>,
    rng: ChaCha8Rng,
    ids: IdAllocator,
    lists: household::Lists,
    family: family::Lists,
    recent: VecDeque<Recent>,
    /// Position in each file's cycle of rules to break.
    household_cycle: usize,
    member_cycle: usize,
    aid_cycle: usize,
    /// A staff number of this org that no stored household has, for `household.unknown`.
    unknown_seq: Option<u64>,
}

impl<'a> Generator<'a> {
    fn new(opts: &'a Options<'a>) -> Generator<'a> {
        let areas = names::AREAS.iter().map(|(code, _)| *code).collect();
        Generator {
            opts,
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            // The permutation key differs per seed so that different seeds give different numbers.
            ids: IdAllocator::new(areas, opts.seed.rotate_left(17) ^ 0x6261_6e67_6675),
            lists: household::Lists::new(opts.vocabulary),
            family: family::Lists::new(opts.vocabulary),
            recent: VecDeque::with_capacity(RECENT + 1),
            household_cycle: 0,
            member_cycle: 0,
            aid_cycle: 0,
            unknown_seq: None,
        }
    }

    fn run(&mut self, out: &mut Outputs) -> anyhow::Result<Summary> {
        let n = self.opts.households;
        let capacity = self.opts.org.staff_number_capacity();
        if n < capacity {
            self.unknown_seq = Some(n + 1);
        }
        // Selection sampling (Knuth's algorithm S): exactly round(rate × N) rows, chosen at random,
        // without knowing which in advance.
        let target = (self.opts.invalid_rate * n as f64).round() as u64;
        let mut summary = Summary {
            households: n,
            ..Summary::default()
        };
        for seq in 1..=n {
            let left = n - seq + 1;
            let still_needed = target - summary.invalid_households;
            let broken =
                still_needed > 0 && rand::Rng::random_range(&mut self.rng, 0..left) < still_needed;
            let mut h = self.household(seq)?;
            if broken {
                let rule = self.break_household(&mut h);
                let line = out.households.write(&self.lists.layout.cells(&h.cells))?;
                Outputs::record(&mut out.manifest, &out.households, line, rule)?;
                summary.invalid_households += 1;
                if self.unknown_seq.is_none() {
                    self.unknown_seq = Some(seq);
                }
            } else {
                out.households.write(&self.lists.layout.cells(&h.cells))?;
                self.remember(&h);
                self.write_members(&h.facts, out, &mut summary)?;
                self.write_aid(&h.facts, out, &mut summary)?;
            }
        }
        Ok(summary)
    }

    fn remember(&mut self, h: &household::Household) {
        self.recent.push_back(Recent {
            staff_no: h.facts.staff_no.clone(),
            id_number: h.facts.id_number.clone(),
            sex: h.facts.sex(),
        });
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Whether a member or aid row is to be broken.
    fn break_this(&mut self) -> bool {
        self.opts.invalid_rate > 0.0
            && rand::Rng::random_bool(&mut self.rng, self.opts.invalid_rate)
    }
}

/// Maps the generator's own field order onto a kind's columns, resolved once per run.
pub(crate) struct Layout {
    /// For each column of the kind, the generator's field index (none: written empty).
    order: Vec<Option<usize>>,
}

impl Layout {
    fn new(kind: Kind, keys: &[&str]) -> Layout {
        Layout {
            order: kind
                .columns()
                .iter()
                .map(|c| keys.iter().position(|k| *k == c.key))
                .collect(),
        }
    }

    fn cells<'r>(&self, row: &'r [String]) -> Vec<&'r str> {
        self.order
            .iter()
            .map(|o| o.map_or("", |i| row[i].as_str()))
            .collect()
    }
}

/// Picks the next rule of a cycle that `applicable` allows (a duplicate needs an earlier valid row).
fn next_rule(cycle: &[Rule], position: &mut usize, applicable: impl Fn(Rule) -> bool) -> Rule {
    let start = *position;
    *position += 1;
    (0..cycle.len())
        .map(|k| cycle[(start + k) % cycle.len()])
        .find(|&r| applicable(r))
        .expect("every cycle has rules that need nothing")
}

/// Uses a weighted list built from a field, or none if the field has no such value.
fn pick<'l>(rng: &mut ChaCha8Rng, list: &'l Weighted<String>) -> &'l str {
    list.pick(rng).as_str()
}

#[cfg(test)]
mod tests;
