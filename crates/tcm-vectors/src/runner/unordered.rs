//! `expect_unordered` blocks: the bipartite matching of ordinary blocks and the invariant
//! check of timing-sensitive ones (rules in the parent module's documentation).

use std::time::Instant;

use serde_json::Value;

use super::frames::Data;
use super::{DEFAULT_WAIT, FrameSpec, Player, Role};
use crate::error::RunFailure;
use crate::matcher::{self, Bindings, MatchMode};
use crate::model::{Step, UnorderedFrame};
use crate::wire::Incoming;

/// Whether two frames are of the same kind: same shape, same `type`, same `payload.code`.
fn same_kind(element: &Value, frame: &Value) -> bool {
    matcher::check(element, frame, MatchMode::Shape, &mut Bindings::new()).is_ok()
        && element.get("type") == frame.get("type")
        && element.pointer("/payload/code") == frame.pointer("/payload/code")
}

/// Kuhn's augmenting path for a bipartite matching from frames (left) to elements (right).
fn augment(i: usize, adj: &[Vec<usize>], seen: &mut [bool], owner: &mut [Option<usize>]) -> bool {
    for &j in &adj[i] {
        if seen[j] {
            continue;
        }
        seen[j] = true;
        let free = match owner[j] {
            None => true,
            Some(k) => augment(k, adj, seen, owner),
        };
        if free {
            owner[j] = Some(i);
            return true;
        }
    }
    false
}

/// Maximum matching of the left side of `adj` into `n_right` right vertices; returns the owner
/// (left index) of each right vertex.
fn max_matching(adj: &[Vec<usize>], n_right: usize) -> (usize, Vec<Option<usize>>) {
    let mut owner = vec![None; n_right];
    let mut size = 0;
    for i in 0..adj.len() {
        let mut seen = vec![false; n_right];
        if augment(i, adj, &mut seen, &mut owner) {
            size += 1;
        }
    }
    (size, owner)
}

impl Player<'_> {
    /// Receive the next JSON frame for an unordered block, skipping nothing.
    fn next_json(&mut self, step: &Step, waiting_for: &str) -> Result<(Data, Value), RunFailure> {
        let incoming = self.conn(step)?.recv(Instant::now() + DEFAULT_WAIT);
        let got = match incoming {
            Incoming::Text(t) => Data::Text(t),
            Incoming::Binary(b) => Data::Binary(b),
            other => {
                let actual = self.lost(step, other);
                return Err(self.fail(step, waiting_for, actual));
            }
        };
        match got.json() {
            Some(v) => Ok((got, v)),
            None => Err(self.fail(step, waiting_for, format!("{} (not JSON)", got.describe()))),
        }
    }

    pub(super) fn unordered(
        &mut self,
        producer: Role,
        step: &Step,
        frames: &[UnorderedFrame],
        mode: MatchMode,
    ) -> Result<(), RunFailure> {
        if producer == self.role {
            for f in frames {
                self.emit(step, &FrameSpec::Json(&f.frame, mode))?;
            }
            return Ok(());
        }
        if self.conv.timing_sensitive {
            self.unordered_by_invariant(step, frames, mode)
        } else {
            self.unordered_exact(step, frames, mode)
        }
    }

    fn unordered_exact(
        &mut self,
        step: &Step,
        elements: &[UnorderedFrame],
        mode: MatchMode,
    ) -> Result<(), RunFailure> {
        let required: Vec<usize> = (0..elements.len())
            .filter(|&j| !elements[j].optional)
            .collect();
        let base = self.bindings.clone();
        let mut got: Vec<Value> = Vec::new();
        let mut adj: Vec<Vec<usize>> = Vec::new();
        loop {
            // Complete when the required elements can all be covered (Mendelsohn-Dulmage: with
            // every frame assignable this gives one matching doing both).
            let by_element: Vec<Vec<usize>> = required
                .iter()
                .map(|&j| (0..got.len()).filter(|&i| adj[i].contains(&j)).collect())
                .collect();
            if max_matching(&by_element, got.len()).0 == required.len() {
                break;
            }
            let (_, owner) = max_matching(&adj, elements.len());
            let missing: Vec<String> = required
                .iter()
                .filter(|&&j| owner[j].is_none())
                .map(|&j| matcher::render(&elements[j].frame))
                .collect();
            let waiting_for = format!(
                "{} more frame(s) among {}",
                missing.len(),
                missing.join(" | ")
            );
            let (data, value) = self.next_json(step, &waiting_for)?;
            let row: Vec<usize> = (0..elements.len())
                .filter(|&j| {
                    matcher::check(&elements[j].frame, &value, mode, &mut base.clone()).is_ok()
                })
                .collect();
            adj.push(row);
            if max_matching(&adj, elements.len()).0 == adj.len() {
                got.push(value);
                continue;
            }
            adj.pop();
            if self.try_skip(step, &data) {
                continue;
            }
            return Err(self.fail(
                step,
                waiting_for,
                format!("{} (matches no remaining element)", data.describe()),
            ));
        }
        let (_, owner) = max_matching(&adj, elements.len());
        for (j, owner) in owner.iter().enumerate() {
            if let Some(i) = owner {
                let _ = matcher::check(&elements[j].frame, &got[*i], mode, &mut self.bindings);
            }
        }
        Ok(())
    }

    fn unordered_by_invariant(
        &mut self,
        step: &Step,
        elements: &[UnorderedFrame],
        mode: MatchMode,
    ) -> Result<(), RunFailure> {
        let required: Vec<&Value> = elements
            .iter()
            .filter(|e| !e.optional)
            .map(|e| &e.frame)
            .collect();
        let optional: Vec<&Value> = elements
            .iter()
            .filter(|e| e.optional)
            .map(|e| &e.frame)
            .collect();
        self.late_optional.remove(&step.conn);
        let mut answers: Vec<Value> = Vec::new();
        while answers.len() < required.len() {
            let waiting_for = format!(
                "{} more answer(s) like {}",
                required.len() - answers.len(),
                required
                    .iter()
                    .map(|v| matcher::render(v))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let (data, value) = self.next_json(step, &waiting_for)?;
            let mut trial = self.bindings.clone();
            let listed = required
                .iter()
                .filter(|e| matcher::check(e, &value, mode, &mut trial).is_ok())
                .count();
            let by_kind = listed == 0 && required.iter().any(|e| same_kind(e, &value));
            let repeated = answers.iter().any(|a| matcher::values_equal(a, &value));
            let nack = value.get("type").and_then(Value::as_str) == Some("error");
            if (listed > 0 || by_kind) && repeated && listed < 2 && !nack {
                return Err(self.fail(
                    step,
                    waiting_for,
                    format!(
                        "{} (a second identical answer: each request yields one)",
                        data.describe()
                    ),
                ));
            }
            if listed > 0 {
                self.bindings = trial;
                answers.push(value);
                continue;
            }
            if optional
                .iter()
                .any(|e| matcher::check(e, &value, mode, &mut self.bindings.clone()).is_ok())
            {
                continue;
            }
            if self.try_skip(step, &data) {
                continue;
            }
            if by_kind {
                self.note(format!("accepted by kind: {}", data.describe()));
                answers.push(value);
                continue;
            }
            return Err(self.fail(
                step,
                waiting_for,
                format!("{} (not of any listed kind)", data.describe()),
            ));
        }
        let late: Vec<Value> = optional.into_iter().cloned().collect();
        if !late.is_empty() {
            self.late_optional.insert(step.conn.clone(), (late, mode));
        }
        Ok(())
    }
}
