//! Word lists for synthetic people, places and firms, and a weighted picker over them.
//!
//! The lists are Hubei-flavoured (荆门's counties, seed 002) so that generated archives look like the
//! ones an office keeps; every character is in GBK so the files can be saved as Chinese Excel does.

use bangfu_shared::vocabulary::Field;
use rand::Rng;

/// A list of items with integer weights; zero-weight items are never picked.
#[derive(Debug, Clone)]
pub(crate) struct Weighted<T> {
    items: Vec<T>,
    cumulative: Vec<u32>,
}

impl<T> Weighted<T> {
    pub(crate) fn new(pairs: impl IntoIterator<Item = (T, u32)>) -> Weighted<T> {
        let (mut items, mut cumulative, mut total) = (Vec::new(), Vec::new(), 0u32);
        for (item, w) in pairs {
            if w > 0 {
                total += w;
                items.push(item);
                cumulative.push(total);
            }
        }
        Weighted { items, cumulative }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn pick<R: Rng>(&self, rng: &mut R) -> &T {
        let total = *self
            .cumulative
            .last()
            .expect("a weighted list is never empty when picked from");
        let x = rng.random_range(0..total);
        &self.items[self.cumulative.partition_point(|&c| c <= x)]
    }
}

impl Weighted<String> {
    /// The values of a vocabulary field, weighted by name. Values the table does not mention get
    /// `other` (so a province's own vocabulary still shows up); names the vocabulary lacks are
    /// ignored. If nothing is left, all values are equally likely.
    pub(crate) fn field(field: &Field, weights: &[(&str, u32)], other: u32) -> Weighted<String> {
        let weight_of = |v: &str| {
            weights
                .iter()
                .find(|(name, _)| *name == v)
                .map_or(other, |(_, w)| *w)
        };
        let list = Weighted::new(field.values().iter().map(|v| (v.clone(), weight_of(v))));
        if list.is_empty() {
            Weighted::new(field.values().iter().map(|v| (v.clone(), 1)))
        } else {
            list
        }
    }
}

/// Picks one of a plain list uniformly.
pub(crate) fn one_of<'a, R: Rng>(rng: &mut R, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// Common surnames with rough per-mille frequencies (胡 and 熊 a little higher, as in Hubei).
pub(crate) const SURNAMES: &[(&str, u32)] = &[
    ("王", 72),
    ("李", 72),
    ("张", 68),
    ("刘", 54),
    ("陈", 45),
    ("杨", 32),
    ("黄", 24),
    ("赵", 22),
    ("吴", 20),
    ("周", 19),
    ("胡", 20),
    ("徐", 15),
    ("孙", 15),
    ("马", 13),
    ("朱", 13),
    ("郭", 12),
    ("何", 11),
    ("高", 10),
    ("林", 10),
    ("罗", 9),
    ("郑", 9),
    ("梁", 8),
    ("谢", 8),
    ("宋", 7),
    ("唐", 7),
    ("许", 7),
    ("韩", 6),
    ("冯", 6),
    ("邓", 6),
    ("曹", 6),
    ("彭", 6),
    ("曾", 6),
    ("肖", 6),
    ("田", 5),
    ("董", 5),
    ("袁", 5),
    ("潘", 5),
    ("于", 5),
    ("蒋", 5),
    ("蔡", 5),
    ("余", 5),
    ("杜", 5),
    ("叶", 4),
    ("程", 4),
    ("苏", 4),
    ("魏", 4),
    ("吕", 4),
    ("丁", 4),
    ("任", 4),
    ("沈", 4),
    ("姚", 4),
    ("卢", 4),
    ("姜", 3),
    ("崔", 3),
    ("钟", 3),
    ("谭", 3),
    ("陆", 3),
    ("汪", 3),
    ("范", 3),
    ("金", 3),
    ("石", 3),
    ("廖", 3),
    ("贾", 3),
    ("夏", 3),
    ("付", 3),
    ("方", 3),
    ("白", 3),
    ("邹", 3),
    ("孟", 3),
    ("熊", 5),
    ("秦", 3),
    ("邱", 3),
    ("江", 3),
    ("尹", 3),
    ("薛", 2),
    ("段", 2),
    ("雷", 2),
    ("侯", 2),
    ("龙", 2),
    ("史", 2),
    ("黎", 2),
    ("贺", 2),
    ("顾", 2),
    ("毛", 2),
    ("郝", 2),
    ("龚", 2),
    ("邵", 2),
    ("万", 2),
    ("钱", 2),
    ("严", 2),
    ("覃", 2),
    ("武", 2),
    ("戴", 2),
    ("孔", 2),
    ("汤", 2),
    ("向", 2),
    ("易", 2),
    ("涂", 2),
    ("舒", 1),
    ("晏", 1),
    ("皮", 1),
    ("欧阳", 1),
    ("司马", 1),
];

pub(crate) const MALE_GIVEN: &[&str] = &[
    "伟", "刚", "勇", "毅", "俊", "峰", "强", "军", "平", "保", "东", "文", "辉", "力", "明", "永",
    "健", "世", "广", "志", "义", "兴", "良", "海", "山", "仁", "波", "宁", "贵", "福", "生", "龙",
    "元", "全", "国", "胜", "学", "祥", "才", "发", "武", "新", "利", "清", "飞", "彬", "富", "顺",
    "杰", "涛", "昌", "成", "康", "光", "天", "达", "安", "中", "茂", "进", "林", "有", "坚", "和",
    "博", "诚", "先", "振", "会", "思", "群", "豪", "邦", "承", "乐", "功", "松", "庆", "磊", "民",
    "友", "河", "江", "超", "浩", "亮", "政", "鸣", "斌", "栋", "维", "启", "克", "翔", "旭", "鹏",
    "泽", "晨", "建", "家", "德", "红", "卫", "华", "金", "春",
];

pub(crate) const FEMALE_GIVEN: &[&str] = &[
    "秀", "娟", "英", "华", "慧", "巧", "美", "娜", "静", "淑", "惠", "珠", "翠", "雅", "芝", "玉",
    "萍", "红", "娥", "玲", "芬", "芳", "燕", "彩", "春", "菊", "兰", "凤", "洁", "梅", "琳", "素",
    "云", "莲", "环", "雪", "荣", "爱", "霞", "香", "月", "媛", "艳", "佳", "琼", "勤", "珍", "莉",
    "桂", "晶", "妍", "秋", "青", "倩", "婷", "婉", "颖", "露", "瑶", "怡", "丹", "蓉", "琴", "薇",
    "梦", "岚", "馨", "欣", "晓", "丽", "敏", "小", "金", "冬", "平", "利",
];

/// Birthplace area codes for ID numbers: 荆门's counties first (seed 002), some from elsewhere in
/// Hubei, as people move for work.
pub(crate) const AREAS: &[(&str, u32)] = &[
    ("420821", 30), // 京山
    ("420822", 14), // 沙洋
    ("420881", 18), // 钟祥
    ("420802", 12), // 东宝
    ("420804", 8),  // 掇刀
    ("420106", 2),  // 武昌
    ("420111", 2),  // 洪山
    ("421002", 3),  // 沙市
    ("421081", 2),  // 石首
    ("420502", 2),  // 西陵
    ("420602", 2),  // 襄城
    ("420984", 2),  // 汉川
    ("421121", 1),  // 团风
    ("420528", 1),  // 长阳
    ("422801", 1),  // 恩施
];

/// Where households live: towns and streets of 荆门's counties.
pub(crate) const PLACES: &[&str] = &[
    "京山县新市镇",
    "京山县永兴镇",
    "京山县宋河镇",
    "京山县曹武镇",
    "京山县孙桥镇",
    "沙洋县沙洋镇",
    "沙洋县五里铺镇",
    "沙洋县后港镇",
    "沙洋县拾回桥镇",
    "钟祥市郢中街道",
    "钟祥市胡集镇",
    "钟祥市洋梓镇",
    "钟祥市柴湖镇",
    "荆门市东宝区龙泉街道",
    "荆门市东宝区泉口街道",
    "荆门市东宝区子陵铺镇",
    "荆门市掇刀区掇刀石街道",
    "荆门市掇刀区白庙街道",
    "荆门市掇刀区团林铺镇",
];

pub(crate) const ROADS: &[&str] = &[
    "人民路",
    "解放路",
    "建设路",
    "中山路",
    "新华路",
    "胜利路",
    "团结路",
    "文化路",
    "和平路",
    "幸福路",
    "象山大道",
    "龙井大道",
    "白云大道",
    "长宁大道",
    "石化大道",
    "月亮湖路",
    "迎宾大道",
    "钟鼓楼路",
    "汉江路",
    "朝阳路",
    "工农路",
    "东风路",
    "滨湖路",
    "光明路",
];

pub(crate) const VILLAGES: &[&str] = &[
    "新河村",
    "李店村",
    "石龙村",
    "杨集村",
    "双河村",
    "张湾村",
    "高桥村",
    "柳林村",
    "红星村",
    "丁湾村",
];

pub(crate) const FIRM_PLACES: &[&str] = &["京山", "荆门", "钟祥", "沙洋", "湖北", "荆楚"];
pub(crate) const FIRM_BRANDS: &[&str] = &[
    "华泰",
    "宏达",
    "金鑫",
    "永兴",
    "恒通",
    "新星",
    "鑫源",
    "东方",
    "楚天",
    "汉江",
    "明珠",
    "长兴",
    "广源",
    "天宇",
    "瑞丰",
    "金龙",
    "富华",
    "盛达",
    "双环",
    "屈家岭",
];
pub(crate) const FIRM_TRADES: &[&str] = &[
    "纺织",
    "机械",
    "化工",
    "建材",
    "水泥",
    "食品",
    "轻机",
    "棉纺",
    "印刷",
    "服装",
    "商贸",
    "物流",
    "电子",
    "建筑",
    "农业科技",
    "医药",
    "磷化",
    "塑料",
    "米业",
    "汽车配件",
];
pub(crate) const FIRM_SUFFIXES: &[(&str, u32)] = &[
    ("有限公司", 50),
    ("有限责任公司", 20),
    ("厂", 15),
    ("股份有限公司", 10),
    ("集团有限公司", 5),
];
/// Public employers, for 国有机关/事业单位.
pub(crate) const PUBLIC_UNITS: &[&str] = &[
    "环卫处",
    "供销社",
    "粮食局",
    "自来水公司",
    "人民医院",
    "第一中学",
    "交通局",
    "城建局",
    "园林处",
    "林业站",
    "农机站",
    "文化馆",
];

pub(crate) const UNIVERSITIES: &[&str] = &[
    "荆楚理工学院",
    "荆门职业学院",
    "湖北工业大学",
    "武汉大学",
    "华中科技大学",
    "长江大学",
    "湖北大学",
    "三峡大学",
    "武汉职业技术学院",
    "湖北文理学院",
];

pub(crate) const ETHNICITIES: &[(&str, u32)] = &[
    ("汉族", 955),
    ("土家族", 25),
    ("回族", 8),
    ("苗族", 5),
    ("满族", 4),
    ("蒙古族", 3),
];

/// 文化程度 of a worker (a free-text field in the seeds).
pub(crate) const EDUCATION: &[(&str, u32)] = &[
    ("小学", 12),
    ("初中", 36),
    ("高中", 22),
    ("中专", 12),
    ("大专", 11),
    ("本科", 6),
    ("文盲", 1),
];

/// Mobile number prefixes of the three carriers.
pub(crate) const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "177", "180", "181", "182", "183", "186", "187",
    "188", "189", "199",
];

/// A short remark for an aid record of a kind.
pub(crate) fn aid_notes(kind: &str) -> &'static [&'static str] {
    match kind {
        "送温暖慰问" => &[
            "春节送温暖慰问",
            "元旦春节走访慰问",
            "两节慰问金",
            "送温暖慰问金",
        ],
        "生活救助" => &["临时生活救助", "生活困难补助", "季度生活补助"],
        "医疗救助" => &["住院医疗救助", "大病医疗救助", "医疗费补助"],
        "助学" => &["金秋助学", "子女上学资助", "大学新生助学"],
        "职业介绍" => &["推荐就业岗位"],
        "就业培训" => &["技能培训补贴"],
        "政策咨询" => &["低保政策咨询"],
        "法律援助" => &["劳动争议法律援助"],
        "创业贷款" => &["小额创业贷款贴息"],
        _ => &["其他帮扶"],
    }
}
