//! `bangfu-node check` (精准识别) against the rules worked out here, independently, from the file.

use crate::common::*;

fn yuan(s: &str) -> f64 {
    if s.is_empty() {
        0.0
    } else {
        s.parse().unwrap()
    }
}

#[test]
fn check_lists_exactly_the_households_the_local_rules_do_not_support() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "H01", 3000, 9, 0.0, "csv");
    let data = init_node(dir.path(), "H01");
    ok(&[
        "import",
        "--data",
        s(&data),
        s(&files.join("households.csv")),
    ]);

    // The defaults of `init`: 低保 line 400 元/month, edge band 1.2, hardship share 0.5 (seeds 002, 004).
    let mut expected = Vec::new();
    let mut r = csv::Reader::from_path(files.join("households.csv")).unwrap();
    let header: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    for rec in r.records() {
        let rec = rec.unwrap();
        let get = |name: &str| rec[header.iter().position(|h| h == name).unwrap()].to_string();
        if get("档案状态") != "在档" {
            continue;
        }
        let income = yuan(&get("家庭年度总收入"));
        let pc = income / get("家庭人口").parse::<f64>().unwrap() / 12.0;
        let causes = get("致困主要原因");
        let special = [
            "本人大病",
            "供养直系亲属大病",
            "意外灾害",
            "子女上学",
            "残疾",
            "下岗失业",
            "其他",
        ]
        .iter()
        .any(|c| causes.split(['、', ';']).any(|x| x == *c));
        let qualifies = match get("困难类别").as_str() {
            "低保户" => get("是否享受低保") == "是" || pc < 400.0,
            "低保边缘户" => pc <= 480.0 && (get("是否单亲") == "是" || special),
            _ => {
                yuan(&get("年医疗费个人支出")) > income / 2.0
                    || yuan(&get("年学费支出")) > income / 2.0
                    || (causes.contains("意外灾害") && yuan(&get("家庭年度支出")) > income / 2.0)
            }
        };
        if !qualifies {
            expected.push(get("职工编号"));
        }
    }
    assert!(
        expected.len() > 20,
        "the generator leaves some records behind their households ({})",
        expected.len()
    );

    let out = ok(&["check", "--data", s(&data), "--limit", "100000"]);
    let listed: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("H01"))
        .map(|l| l[..8].to_string())
        .collect();
    assert_eq!(listed, expected);
    assert!(
        out.lines()
            .last()
            .unwrap()
            .contains(&format!("{} 户需核实", expected.len()))
    );
}
