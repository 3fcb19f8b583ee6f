//! The seventeen emerging hot-spot categories of a unit, from its Gi* z
//! series, which bins were significant, and the trend of the z series.
//!
//! [`Rules::Sfdep`] is R `sfdep`'s `classify_hotspot` rule for rule, in its
//! order (the first that holds wins); [`Rules::Arcgis`] follows the
//! published ArcGIS wording. Where they differ is listed in the parent
//! module's documentation and tested below.

use serde::Serialize;

use super::mann_kendall::Trend;

/// Which classification rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rules {
    /// R sfdep's `classify_hotspot`, exactly (the default).
    #[default]
    Sfdep,
    /// The category definitions published with ArcGIS Emerging Hot Spot Analysis.
    Arcgis,
}

impl std::str::FromStr for Rules {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sfdep" => Ok(Rules::Sfdep),
            "arcgis" => Ok(Rules::Arcgis),
            other => Err(format!("rules {other:?}: use sfdep or arcgis")),
        }
    }
}

macro_rules! categories {
    ($($v:ident $name:literal $zh:literal $en:literal,)*) => {
        /// Emerging hot-spot category of a unit.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum Category { $(#[doc = $en] $v,)* }

        impl Category {
            /// Every category, hot then cold then none.
            pub const ALL: [Category; 17] = [$(Category::$v,)*];
            /// Stable snake_case name (`new_hot_spot`, ...).
            pub fn name(self) -> &'static str { match self { $(Category::$v => $name,)* } }
            /// zh-CN label.
            pub fn zh(self) -> &'static str { match self { $(Category::$v => $zh,)* } }
            /// English label.
            pub fn en(self) -> &'static str { match self { $(Category::$v => $en,)* } }
        }
    };
}

categories! {
    NewHotSpot "new_hot_spot" "新增热点" "New hot spot",
    ConsecutiveHotSpot "consecutive_hot_spot" "连续热点" "Consecutive hot spot",
    IntensifyingHotSpot "intensifying_hot_spot" "加剧热点" "Intensifying hot spot",
    PersistentHotSpot "persistent_hot_spot" "持续热点" "Persistent hot spot",
    DiminishingHotSpot "diminishing_hot_spot" "减弱热点" "Diminishing hot spot",
    SporadicHotSpot "sporadic_hot_spot" "零星热点" "Sporadic hot spot",
    OscillatingHotSpot "oscillating_hot_spot" "振荡热点" "Oscillating hot spot",
    HistoricalHotSpot "historical_hot_spot" "历史热点" "Historical hot spot",
    NewColdSpot "new_cold_spot" "新增冷点" "New cold spot",
    ConsecutiveColdSpot "consecutive_cold_spot" "连续冷点" "Consecutive cold spot",
    IntensifyingColdSpot "intensifying_cold_spot" "加剧冷点" "Intensifying cold spot",
    PersistentColdSpot "persistent_cold_spot" "持续冷点" "Persistent cold spot",
    DiminishingColdSpot "diminishing_cold_spot" "减弱冷点" "Diminishing cold spot",
    SporadicColdSpot "sporadic_cold_spot" "零星冷点" "Sporadic cold spot",
    OscillatingColdSpot "oscillating_cold_spot" "振荡冷点" "Oscillating cold spot",
    HistoricalColdSpot "historical_cold_spot" "历史冷点" "Historical cold spot",
    NoPattern "no_pattern" "无模式" "No pattern detected",
}

/// Counts a rule set reads from one unit's bins.
struct Bins<'a> {
    z: &'a [f64],
    sig: &'a [bool],
    n: usize,
}

impl Bins<'_> {
    fn hot(&self, t: usize) -> bool {
        self.sig[t] && self.z[t] > 0.0
    }
    fn cold(&self, t: usize) -> bool {
        self.sig[t] && self.z[t] < 0.0
    }
    fn count(&self, f: impl Fn(usize) -> bool) -> usize {
        (0..self.n).filter(|&t| f(t)).count()
    }
    /// Share of bins meeting `f`, computed as R does (count / n).
    fn share(&self, f: impl Fn(usize) -> bool) -> f64 {
        self.count(f) as f64 / self.n as f64
    }
    /// Length of the final run of bins meeting `f`.
    fn final_run(&self, f: impl Fn(usize) -> bool) -> usize {
        (0..self.n).rev().take_while(|&t| f(t)).count()
    }
}

/// The category of a unit with Gi* z series `z`, significance `sig` (same
/// length, oldest first, at least one period), the trend of `z`, and the
/// significance level `alpha` the trend is judged at (sfdep uses one
/// threshold for both).
pub fn classify(z: &[f64], sig: &[bool], trend: &Trend, alpha: f64, rules: Rules) -> Category {
    let n = z.len().min(sig.len());
    if n == 0 {
        return Category::NoPattern;
    }
    let b = Bins { z, sig, n };
    match rules {
        Rules::Sfdep => sfdep(&b, trend, alpha),
        Rules::Arcgis => arcgis(&b, trend, alpha),
    }
}

/// sfdep's functions in sfdep's order; each line is one of its predicates.
fn sfdep(b: &Bins, trend: &Trend, alpha: f64) -> Category {
    use Category::*;
    let last = b.n - 1;
    let (gl, sl) = (b.z[last], b.sig[last]);
    let (tau, p) = (trend.tau, trend.p);
    let sigs = b.count(|t| b.sig[t]);
    let hot = b.share(|t| b.hot(t));
    let cold = b.share(|t| b.cold(t));
    let any_hot = hot > 0.0;
    let any_cold = cold > 0.0;
    // The final run of significant bins (of either sign), and whether every
    // bin before it is not significant.
    let run = b.final_run(|t| b.sig[t]);
    let quiet_before = (0..b.n - run).all(|t| !b.sig[t]);
    let rules: [(Category, bool); 16] = [
        (NewHotSpot, sigs == 1 && sl && gl > 0.0),
        (NewColdSpot, sigs == 1 && sl && gl < 0.0),
        (
            ConsecutiveHotSpot,
            sl && gl > 0.0 && quiet_before && hot < 0.9,
        ),
        (
            ConsecutiveColdSpot,
            sl && gl < 0.0 && quiet_before && cold < 0.9,
        ),
        (
            IntensifyingHotSpot,
            sigs as f64 / b.n as f64 >= 0.9 && sl && tau > 0.0 && p < alpha,
        ),
        (
            IntensifyingColdSpot,
            cold >= 0.9 && sl && tau < 0.0 && p <= alpha,
        ),
        (PersistentHotSpot, hot >= 0.9 && p > alpha),
        (PersistentColdSpot, cold >= 0.9 && p > alpha),
        (
            DiminishingHotSpot,
            hot >= 0.9 && sl && tau < 0.0 && p <= alpha,
        ),
        (
            DiminishingColdSpot,
            cold >= 0.9 && sl && tau > 0.0 && p <= alpha,
        ),
        (OscillatingHotSpot, hot <= 0.9 && gl > 0.0 && sl && any_cold),
        (OscillatingColdSpot, cold < 0.9 && gl < 0.0 && sl && any_hot),
        (HistoricalHotSpot, hot >= 0.9 && gl < 0.0),
        (HistoricalColdSpot, gl > 0.0 && cold >= 0.9),
        (SporadicHotSpot, hot < 0.9 && !any_cold && any_hot),
        (SporadicColdSpot, cold < 0.9 && !any_hot && any_cold),
    ];
    rules
        .iter()
        .find(|(_, holds)| *holds)
        .map_or(NoPattern, |(c, _)| *c)
}

/// The published wording, hot and cold alike: "at least 90 percent" and
/// "less than 90 percent" of the bins, the trend significant at `alpha`.
/// The wording leaves overlaps open; they are settled so that what the
/// last period shows wins: first the categories of a unit significant in
/// the last period, in the published order (new before consecutive before
/// oscillating: a first hot bin after cold ones is new), then historical.
fn arcgis(b: &Bins, trend: &Trend, alpha: f64) -> Category {
    use Category::*;
    let last = b.n - 1;
    let hot_side = [
        NewHotSpot,
        ConsecutiveHotSpot,
        IntensifyingHotSpot,
        PersistentHotSpot,
        DiminishingHotSpot,
        SporadicHotSpot,
        OscillatingHotSpot,
        HistoricalHotSpot,
    ];
    let cold_side = [
        NewColdSpot,
        ConsecutiveColdSpot,
        IntensifyingColdSpot,
        PersistentColdSpot,
        DiminishingColdSpot,
        SporadicColdSpot,
        OscillatingColdSpot,
        HistoricalColdSpot,
    ];
    let significant = trend.p <= alpha;
    for (is_hot, names) in [(true, hot_side), (false, cold_side)] {
        let this = |t: usize| if is_hot { b.hot(t) } else { b.cold(t) };
        let other = |t: usize| if is_hot { b.cold(t) } else { b.hot(t) };
        if !this(last) {
            continue;
        }
        let [new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, _] =
            names;
        let count = b.count(this);
        let share = b.share(this);
        let run = b.final_run(this);
        // A hot spot intensifies as its z rises, a cold spot as its z falls.
        let rising = if is_hot {
            trend.tau > 0.0
        } else {
            trend.tau < 0.0
        };
        return if count == 1 {
            new
        } else if run >= 2 && run == count && share < 0.9 {
            consecutive
        } else if share >= 0.9 {
            match (significant, rising) {
                (true, true) => intensifying,
                (true, false) => diminishing,
                (false, _) => persistent,
            }
        } else if b.count(other) == 0 {
            sporadic
        } else {
            oscillating
        };
    }
    if b.share(|t| b.hot(t)) >= 0.9 {
        HistoricalHotSpot
    } else if b.share(|t| b.cold(t)) >= 0.9 {
        HistoricalColdSpot
    } else {
        NoPattern
    }
}

#[cfg(test)]
mod tests {
    use super::Category::*;
    use super::*;

    const ALPHA: f64 = 0.01;

    fn trend(tau: f64, p: f64) -> Trend {
        Trend {
            tau,
            p,
            s: 0.0,
            var_s: 0.0,
        }
    }

    /// z of each bin and significance from a pattern: `H` significant hot
    /// (z 3), `C` significant cold (z −3), `h`/`c` a positive/negative z
    /// that is not significant (±0.5), `.` z 0.
    fn bins(pattern: &str) -> (Vec<f64>, Vec<bool>) {
        pattern
            .chars()
            .map(|ch| match ch {
                'H' => (3.0, true),
                'C' => (-3.0, true),
                'h' => (0.5, false),
                'c' => (-0.5, false),
                _ => (0.0, false),
            })
            .unzip()
    }

    fn both(pattern: &str, t: Trend) -> (Category, Category) {
        let (z, s) = bins(pattern);
        (
            classify(&z, &s, &t, ALPHA, Rules::Sfdep),
            classify(&z, &s, &t, ALPHA, Rules::Arcgis),
        )
    }

    /// Cases where both rule sets agree, one per category.
    #[test]
    fn every_category_is_reached_under_both_rules() {
        let flat = trend(0.1, 0.6);
        let up = trend(0.8, 0.001);
        let down = trend(-0.8, 0.001);
        let cases = [
            (".........H", flat, NewHotSpot),
            (".........C", flat, NewColdSpot),
            (".......HHH", flat, ConsecutiveHotSpot),
            (".......CCC", flat, ConsecutiveColdSpot),
            ("HHHHHHHHHH", up, IntensifyingHotSpot),
            ("CCCCCCCCCC", down, IntensifyingColdSpot),
            ("HHHHHHHHHH", flat, PersistentHotSpot),
            ("CCCCCCCCCC", flat, PersistentColdSpot),
            ("HHHHHHHHHH", down, DiminishingHotSpot),
            ("..H...H..H", flat, SporadicHotSpot),
            ("..C...C..C", flat, SporadicColdSpot),
            ("C....H...H", flat, OscillatingHotSpot),
            ("H....C...C", flat, OscillatingColdSpot),
            ("HHHHHHHHHc", down, HistoricalHotSpot),
            ("CCCCCCCCCh", up, HistoricalColdSpot),
            ("hc..h..c..", flat, NoPattern),
        ];
        for (pattern, t, want) in cases {
            assert_eq!(both(pattern, t), (want, want), "{pattern} {t:?}");
        }
        // The seventeenth: sfdep reaches a diminishing cold spot only when
        // the trend's p equals the threshold (see the next test).
        let (z, s) = bins("CCCCCCCCCC");
        assert_eq!(
            classify(&z, &s, &trend(0.8, ALPHA), ALPHA, Rules::Sfdep),
            DiminishingColdSpot
        );
        assert_eq!(
            classify(&z, &s, &trend(0.8, 0.001), ALPHA, Rules::Arcgis),
            DiminishingColdSpot
        );
        let names: std::collections::HashSet<_> = Category::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), 17);
    }

    #[test]
    fn a_cold_spot_warming_significantly_is_an_intensifying_hot_spot_under_sfdep() {
        // sfdep's intensifying hot spot counts significant bins of either sign.
        let warming = trend(0.8, 0.001);
        assert_eq!(
            both("CCCCCCCCCC", warming),
            (IntensifyingHotSpot, DiminishingColdSpot)
        );
    }

    #[test]
    fn hot_in_nine_of_ten_and_not_in_the_last_is_persistent_under_sfdep_historical_under_arcgis() {
        // The last bin's z is positive but not significant, no trend.
        assert_eq!(
            both("HHHHHHHHHh", trend(-0.2, 0.4)),
            (PersistentHotSpot, HistoricalHotSpot)
        );
        assert_eq!(
            both("CCCCCCCCCc", trend(0.2, 0.4)),
            (PersistentColdSpot, HistoricalColdSpot)
        );
        // With a significant fall sfdep finds nothing: historical needs a negative last z.
        assert_eq!(
            both("HHHHHHHHHh", trend(-0.7, 0.001)),
            (NoPattern, HistoricalHotSpot)
        );
    }

    #[test]
    fn a_first_hot_bin_after_a_cold_one_is_oscillating_under_sfdep_new_under_arcgis() {
        // sfdep's new and consecutive count significant bins of either sign before.
        let flat = trend(0.3, 0.3);
        assert_eq!(both("C........H", flat), (OscillatingHotSpot, NewHotSpot));
        assert_eq!(
            both("C......HHH", flat),
            (OscillatingHotSpot, ConsecutiveHotSpot)
        );
    }

    #[test]
    fn sfdep_s_final_run_counts_significant_bins_of_either_sign() {
        // Hot for nine periods, significantly cold in the last: the final
        // run of significant bins is all ten, nothing before it.
        let fall = trend(-0.6, 0.001);
        assert_eq!(both("HHHHHHHHHC", fall), (ConsecutiveColdSpot, NewColdSpot));
        // With a quiet bin breaking the run, sfdep's diminishing hot spot
        // asks only that the last bin be significant, not hot.
        assert_eq!(
            both("HHHHHHHHHHHHHHHHHH.C", fall),
            (DiminishingHotSpot, NewColdSpot)
        );
    }

    #[test]
    fn sporadic_needs_a_hot_last_bin_only_under_arcgis() {
        assert_eq!(
            both("..H...H...", trend(0.0, 0.9)),
            (SporadicHotSpot, NoPattern)
        );
    }

    #[test]
    fn a_trend_p_equal_to_the_threshold_splits_sfdep_s_intensifying_and_diminishing() {
        // sfdep: intensifying needs p < α, diminishing p ≤ α, persistent p > α.
        let at = trend(0.5, ALPHA);
        assert_eq!(both("HHHHHHHHHH", at), (NoPattern, IntensifyingHotSpot));
        let at_down = trend(-0.5, ALPHA);
        assert_eq!(
            both("HHHHHHHHHH", at_down),
            (DiminishingHotSpot, DiminishingHotSpot)
        );
    }

    #[test]
    fn oscillating_hot_allows_exactly_ninety_percent_under_sfdep_and_cold_does_not() {
        // sfdep's oscillating hot spot uses ≤ 0.9, its cold twin < 0.9;
        // reached when no trend rule fires (τ = 0 at p = α).
        let t = trend(0.0, ALPHA);
        let (z, s) = bins("CHHHHHHHHH");
        assert_eq!(
            classify(&z, &s, &t, ALPHA, Rules::Sfdep),
            OscillatingHotSpot
        );
        let (z, s) = bins("HCCCCCCCCC");
        assert_eq!(classify(&z, &s, &t, ALPHA, Rules::Sfdep), NoPattern);
    }

    #[test]
    fn names_and_labels_are_stable() {
        assert_eq!(NewHotSpot.name(), "new_hot_spot");
        assert_eq!(HistoricalColdSpot.name(), "historical_cold_spot");
        assert_eq!(NoPattern.name(), "no_pattern");
        assert_eq!(
            serde_json::to_value(IntensifyingColdSpot).unwrap(),
            "intensifying_cold_spot"
        );
        assert!(Category::ALL
            .iter()
            .all(|c| !c.zh().is_empty() && !c.en().is_empty()));
    }
}
