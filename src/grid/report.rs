//! The validation report: every finding names the feature index and code.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The file cannot be used as it is.
    Fatal,
    /// Measured and reported; fatal only in strict mode.
    Warning,
    /// Something the loader changed (a repair), with what it changed.
    Repaired,
    /// Worth knowing, changes no answer (e.g. ring winding); never fatal.
    Notice,
}

/// One problem found in a grid file.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable snake_case name of the check (`duplicate_code`, `gap`, ...).
    pub check: &'static str,
    /// 0-based index of the feature in the input file, when one feature is at fault.
    pub feature: Option<usize>,
    /// Code of the unit at fault, when known.
    pub code: Option<String>,
    /// What is wrong, in one line.
    pub message: String,
    /// Measured area of the problem (gap, overlap, overhang, sliver), in m².
    pub area_m2: Option<f64>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Fatal => "error",
            Severity::Warning => "warning",
            Severity::Repaired => "repaired",
            Severity::Notice => "notice",
        };
        write!(f, "{sev}[{}]", self.check)?;
        if let Some(i) = self.feature {
            write!(f, " feature {i}")?;
        }
        if let Some(c) = &self.code {
            write!(f, " ({c})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(a) = self.area_m2 {
            write!(f, " [{a:.1} m²]")?;
        }
        Ok(())
    }
}

/// All findings of one load or check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Units read per level 0..=3.
    pub units_by_level: [usize; 4],
}

impl Report {
    pub(crate) fn push(
        &mut self,
        severity: Severity,
        check: &'static str,
        feature: Option<usize>,
        code: Option<&str>,
        message: impl Into<String>,
        area_m2: Option<f64>,
    ) {
        self.findings.push(Finding {
            severity,
            check,
            feature,
            code: code.map(str::to_owned),
            message: message.into(),
            area_m2,
        });
    }

    /// Number of fatal findings.
    pub fn fatal_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }

    /// The first fatal finding, for one-line errors.
    pub fn first_fatal(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.severity == Severity::Fatal)
    }

    /// Findings of one check.
    pub fn of(&self, check: &str) -> impl Iterator<Item = &Finding> {
        let check = check.to_owned();
        self.findings.iter().filter(move |f| f.check == check)
    }

    /// Turns every warning into a fatal finding (strict mode).
    pub fn make_strict(&mut self) {
        for f in &mut self.findings {
            if f.severity == Severity::Warning {
                f.severity = Severity::Fatal;
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            writeln!(f, "{x}")?;
        }
        let [l0, l1, l2, l3] = self.units_by_level;
        write!(
            f,
            "units: {l0} county, {l1} township, {l2} village, {l3} grid; {} error(s), {} warning(s), {} repair(s)",
            self.fatal_count(),
            self.warning_count(),
            self.findings.iter().filter(|x| x.severity == Severity::Repaired).count()
        )
    }
}
