//! The transition rows `wangge join --updates` folds into the issues it
//! joins, held compactly: a step as [`fold`](crate::ingest::fold::fold)
//! reads it is a few integers, its update id one slice of a shared buffer,
//! and only a step that corrects a category or position or links a
//! duplicate keeps a whole [`Step`]. Ten million steps held as `Step`s
//! (fourteen fields, most of them strings) took the join to 12.7 GB.

use crate::ingest::state::STATES;
use crate::ingest::Step;
use crate::vocab::{SATISFACTION, SOLVED_ANSWERS as SOLVED};

/// One step in 40 bytes.
#[derive(Debug, Clone, Copy)]
struct Kept {
    at: i64,
    /// `i64::MIN`: none.
    deadline: i64,
    issue: u32,
    /// The update id: `ids[update..update + update_len]`.
    update: u32,
    /// 1 + its index in `rare` (0: a common step).
    rare: u32,
    update_len: u16,
    /// Where it was read: the file (by index) and row.
    file: u16,
    row: u32,
    /// Index in [`STATES`].
    state: u8,
    /// 1 + index in [`SATISFACTION`] (0: none).
    satisfaction: u8,
    /// 1 + index in [`SOLVED`] (0: none).
    solved: u8,
}

const _: () = assert!(std::mem::size_of::<Kept>() == 40);

/// A transition row sent again with other content than the row of its
/// update id read first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The file (index) and row of the row left out.
    pub file: u16,
    pub row: u64,
    /// The file (index) and row of the one kept.
    pub first: (u16, u64),
    pub issue_id: String,
    pub update_id: String,
}

/// Each issue's transition rows, by issue id.
#[derive(Default)]
pub struct CaseSteps {
    issues: std::collections::HashMap<Box<str>, u32>,
    kept: Vec<Kept>,
    ids: String,
    /// The steps with a value the compact form does not hold, whole (their
    /// issue id, note and unit dropped: the fold reads none of them).
    rare: Vec<Step>,
    /// After [`CaseSteps::finish`]: where each issue's run in `kept`
    /// starts (one more entry than issues).
    starts: Vec<u32>,
}

fn index_of(list: &[&str], v: Option<&str>) -> Option<u8> {
    match v {
        None => Some(0),
        Some(v) => list.iter().position(|x| *x == v).map(|i| i as u8 + 1),
    }
}

impl CaseSteps {
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Keeps a validated step read from row `row` of file `file` (an
    /// index). Call [`CaseSteps::finish`] after the last.
    pub fn push(&mut self, mut s: Step, (file, row): (u16, u64)) {
        let issue = match self.issues.get(s.issue_id.as_str()) {
            Some(&i) => i,
            None => {
                let i = self.issues.len() as u32;
                self.issues.insert(s.issue_id.as_str().into(), i);
                i
            }
        };
        let state = STATES.iter().position(|(x, _, _)| *x == s.state);
        let satisfaction = index_of(&SATISFACTION, s.satisfaction.as_deref());
        let solved = index_of(&SOLVED, s.solved.as_deref());
        let update_len = u16::try_from(s.update_id.len())
            .ok()
            .filter(|_| self.ids.len() + s.update_id.len() <= u32::MAX as usize);
        let common = s.category.is_none()
            && s.duplicate_of.is_none()
            && s.lon.is_none()
            && s.lat.is_none()
            && s.deadline != Some(i64::MIN);
        let mut k = Kept {
            at: s.at,
            deadline: s.deadline.unwrap_or(i64::MIN),
            issue,
            update: self.ids.len() as u32,
            rare: 0,
            update_len: update_len.unwrap_or(0),
            file,
            row: u32::try_from(row).unwrap_or(u32::MAX),
            state: state.unwrap_or(0) as u8,
            satisfaction: satisfaction.unwrap_or(0),
            solved: solved.unwrap_or(0),
        };
        match (common, state, satisfaction, solved, update_len) {
            (true, Some(_), Some(_), Some(_), Some(_)) => self.ids.push_str(&s.update_id),
            _ => {
                (s.issue_id, s.note_hash, s.to_unit) = (String::new(), None, None);
                self.rare.push(s);
                k.rare = self.rare.len() as u32;
            }
        }
        self.kept.push(k);
    }

    fn update_id(&self, k: &Kept) -> &str {
        match k.rare {
            0 => &self.ids[k.update as usize..k.update as usize + usize::from(k.update_len)],
            r => &self.rare[r as usize - 1].update_id,
        }
    }

    /// Orders each issue's steps by (`at`, update id) and keeps one step
    /// of a transition sent twice (the same update id): the first read.
    /// Returns the rows sent again with other content (a time, state,
    /// deadline, rating or correction of their own), which are not kept,
    /// as the store refuses them.
    pub fn finish(&mut self) -> Vec<Conflict> {
        let mut kept = std::mem::take(&mut self.kept);
        // Stable: of two rows with one update id, the first read is kept.
        kept.sort_by(|a, b| (a.issue, self.update_id(a)).cmp(&(b.issue, self.update_id(b))));
        let mut conflicts = Vec::new();
        kept.dedup_by(|x, y| {
            let same = x.issue == y.issue && self.update_id(x) == self.update_id(y);
            if same && self.step(x) != self.step(y) {
                conflicts.push((*x, *y));
            }
            same
        });
        let conflicts = if conflicts.is_empty() {
            Vec::new()
        } else {
            let mut ids = vec![""; self.issues.len()];
            for (id, &i) in &self.issues {
                ids[i as usize] = id;
            }
            conflicts
                .iter()
                .map(|(x, y)| Conflict {
                    file: x.file,
                    row: u64::from(x.row),
                    first: (y.file, u64::from(y.row)),
                    issue_id: ids[x.issue as usize].to_owned(),
                    update_id: self.update_id(x).to_owned(),
                })
                .collect()
        };
        kept.sort_unstable_by(|a, b| {
            (a.issue, a.at, self.update_id(a)).cmp(&(b.issue, b.at, self.update_id(b)))
        });
        let mut starts = vec![0u32; self.issues.len() + 1];
        for k in &kept {
            starts[k.issue as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        self.kept = kept;
        self.starts = starts;
        conflicts
    }

    /// Steps kept (after [`CaseSteps::finish`]: distinct ones).
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// How many steps issue `id` has.
    pub fn count(&self, id: &str) -> usize {
        self.issues.get(id).map_or(0, |&i| {
            (self.starts[i as usize + 1] - self.starts[i as usize]) as usize
        })
    }

    /// Of issue `id`'s steps, how many are dated at or after `reported`
    /// (its report time) and how many before it (the fold leaves those
    /// out: [`crate::ingest::fold::before_report`]).
    pub fn count_from(&self, id: &str, reported: i64) -> (usize, usize) {
        self.issues.get(id).map_or((0, 0), |&i| {
            let run =
                &self.kept[self.starts[i as usize] as usize..self.starts[i as usize + 1] as usize];
            let early = run.partition_point(|k| k.at < reported);
            (run.len() - early, early)
        })
    }

    /// The steps of issue `id` in (`at`, update id) order, as [`Step`]s.
    pub fn of(&self, id: &str) -> Option<Vec<Step>> {
        let &i = self.issues.get(id)?;
        let run =
            &self.kept[self.starts[i as usize] as usize..self.starts[i as usize + 1] as usize];
        Some(run.iter().map(|k| self.step(k)).collect())
    }

    fn step(&self, k: &Kept) -> Step {
        if k.rare > 0 {
            return self.rare[k.rare as usize - 1].clone();
        }
        let pick = |list: &[&str], i: u8| (i > 0).then(|| list[usize::from(i) - 1].to_owned());
        Step {
            deadline: (k.deadline != i64::MIN).then_some(k.deadline),
            satisfaction: pick(&SATISFACTION, k.satisfaction),
            solved: pick(&SOLVED, k.solved),
            ..Step::new("", self.update_id(k), k.at, STATES[usize::from(k.state)].0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(issue: &str, update: &str, at: i64, state: &str) -> Step {
        Step {
            to_unit: Some("街道城管办".into()),
            note_hash: Some("ab12".into()),
            ..Step::new(issue, update, at, state)
        }
    }

    /// Common and rare steps come back as they went in (less what the
    /// fold does not read), in (`at`, update id) order, a step sent twice
    /// once, and every issue apart.
    #[test]
    fn steps_come_back_in_order_once_and_whole() {
        let mut want: std::collections::BTreeMap<String, Vec<Step>> = Default::default();
        let mut cs = CaseSteps::default();
        let states: Vec<&str> = STATES.iter().map(|s| s.0).collect();
        for i in 0..500u32 {
            let issue = format!("I{i:05}");
            for j in 0..(i % 6) {
                let mut s = step(
                    &issue,
                    &format!("u{}", (j * 7 + i) % 5 + j * 10),
                    i64::from((j * 13) % 4),
                    states[(i + j) as usize % states.len()],
                );
                match (i + j) % 7 {
                    0 => s.deadline = Some(1_000 + i64::from(j)),
                    1 => s.satisfaction = Some(SATISFACTION[(j % 3) as usize].into()),
                    2 => s.solved = Some(SOLVED[(i % 3) as usize].into()),
                    3 => s.category = Some("市容环境".into()),
                    4 => (s.lon, s.lat) = (Some(115.0), Some(38.5)),
                    5 => s.duplicate_of = Some("I00001".into()),
                    _ => {}
                }
                cs.push(s.clone(), (0, u64::from(i)));
                if j == 2 {
                    // Sent again.
                    cs.push(s.clone(), (1, u64::from(i)));
                }
                (s.issue_id, s.to_unit, s.note_hash) = (String::new(), None, None);
                want.entry(issue.clone()).or_default().push(s);
            }
        }
        assert_eq!(cs.finish(), []);
        for (issue, mut steps) in want {
            steps.sort_by(|a, b| (a.at, &a.update_id).cmp(&(b.at, &b.update_id)));
            let early = steps.iter().filter(|s| s.at < 2).count();
            assert_eq!(
                cs.count_from(&issue, 2),
                (steps.len() - early, early),
                "{issue}"
            );
            assert_eq!(cs.of(&issue), Some(steps), "{issue}");
        }
        assert_eq!(cs.of("I00000"), None);
        assert_eq!(cs.of("nobody"), None);
    }

    /// A row sent again with other content is left out and told, naming
    /// where it and the row kept were read (`join --updates` dropped it
    /// without a word, where the store refuses it as a conflict); one sent
    /// again as it was is one step.
    #[test]
    fn a_step_sent_again_with_other_content_is_a_conflict() {
        let mut cs = CaseSteps::default();
        cs.push(step("I1", "z1", 100, "accepted"), (0, 2));
        cs.push(step("I1", "z1", 200, "dispatched"), (0, 3));
        cs.push(step("I1", "z2", 300, "handled"), (0, 4));
        cs.push(step("I1", "z2", 300, "handled"), (1, 2));
        let conflicts = cs.finish();
        assert_eq!(
            conflicts,
            [Conflict {
                file: 0,
                row: 3,
                first: (0, 2),
                issue_id: "I1".into(),
                update_id: "z1".into(),
            }]
        );
        let states: Vec<String> = cs.of("I1").unwrap().into_iter().map(|s| s.state).collect();
        assert_eq!(states, ["accepted", "handled"]);
    }
}
