//! Names: real village names tidied for display, synthetic grid and person
//! names.
//!
//! Committees are registered as `某某村村民委员会` or `某某社区居民委员会`;
//! maps and tables show the settlement (`某某村`, `某某社区`), so the demo
//! uses that as the unit name. Person names are synthetic and drawn from
//! common surnames and given-name characters; none belongs to a real cadre.

use super::rng::Rng;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "田", "董", "袁", "潘", "于", "蒋", "蔡", "杜", "魏", "程", "苏", "吕", "丁", "任", "崔", "贾",
    "郝", "孟", "齐", "谷", "史", "常", "白", "耿",
];

const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "建", "国", "志", "红", "玉", "兰", "海", "文",
    "辉", "鹏", "斌", "宇", "浩", "凯", "晨", "欣", "雪", "梅", "春", "永", "利", "振", "宏", "立",
    "新", "庆", "双", "彦", "淑", "俊", "爱", "学",
];

/// Display name of a committee: the settlement, without the committee suffix.
pub fn village_display(full: &str) -> String {
    if let Some(stem) = full.strip_suffix("村民委员会") {
        if stem.ends_with('村') || stem.ends_with("社区") {
            stem.to_string()
        } else {
            format!("{stem}村")
        }
    } else if let Some(stem) = full.strip_suffix("居民委员会") {
        if stem.ends_with("社区") {
            stem.to_string()
        } else {
            format!("{stem}社区")
        }
    } else {
        full.to_string()
    }
}

/// Name of the `seq`-th grid (1-based) of a village.
pub fn grid_name(village: &str, seq: usize) -> String {
    format!("{village}第{seq}网格")
}

/// A synthetic person name: surname plus one or two given-name characters.
pub fn person(rng: &mut Rng) -> String {
    let mut s = String::from(*rng.choose(SURNAMES));
    s.push_str(rng.choose::<&str>(GIVEN));
    if rng.chance(0.7) {
        s.push_str(rng.choose::<&str>(GIVEN));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committee_suffixes_are_stripped_to_the_settlement() {
        assert_eq!(
            village_display("回民街第一社区居民委员会"),
            "回民街第一社区"
        );
        assert_eq!(village_display("香家庄村民委员会"), "香家庄村");
        assert_eq!(village_display("纸方头村村民委员会"), "纸方头村");
        assert_eq!(village_display("兰家佐社区村民委员会"), "兰家佐社区");
        assert_eq!(grid_name("牛村", 3), "牛村第3网格");
    }
}
