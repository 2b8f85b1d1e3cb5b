//! Compiling scopes: a route's `scopes` and the top-level `scope_implies` (scope words per
//! RFC 6749 §3.3, `*` only as an implied value, and no cycle: `a` implying `b` implying `a`
//! would make the two the same scope under two names, which is a mistake).

use super::compile::Compiler;
use super::error::ConfigError;
use crate::snapshot::ScopeImplications;
use crate::snapshot::scopes::ANY_SCOPE;
use std::collections::BTreeMap;

/// RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`, at least one.
pub(super) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl Compiler<'_> {
    pub(super) fn scope_implies(
        &self,
        direct: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<ScopeImplications, ConfigError> {
        let Some(direct) = direct else {
            return Ok(ScopeImplications::default());
        };
        for (scope, implied) in direct {
            let field = format!("scope_implies.{scope}");
            if !is_scope_token(scope) || scope == ANY_SCOPE {
                return Err(self.invalid(field, "a key is one scope word (not `*`)"));
            }
            if implied.is_empty() {
                return Err(self.invalid(field, "expected at least one implied scope"));
            }
            for (j, s) in implied.iter().enumerate() {
                if !is_scope_token(s) {
                    return Err(self.invalid(
                        format!("{field}[{j}]"),
                        "a scope is one non-empty word (no spaces, quotes or backslashes)",
                    ));
                }
            }
        }
        if let Some(cycle) = find_cycle(direct) {
            return Err(self.invalid(
                format!("scope_implies.{}", cycle[0]),
                format!("a cycle: {}", cycle.join(" -> ")),
            ));
        }
        Ok(ScopeImplications::new(direct))
    }
}

/// A cycle in the implication graph, as the path that closes it, if any (depth-first, with
/// an explicit stack: attacker-free input, but a deep chain must not overflow the stack).
fn find_cycle(direct: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for start in direct.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        // (scope, index of the next implied scope to visit)
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Open);
        while let Some((scope, next)) = path.last().copied() {
            let implied = direct.get(scope).map_or(&[][..], Vec::as_slice);
            match implied.get(next) {
                None => {
                    marks.insert(scope, Mark::Done);
                    path.pop();
                }
                Some(child) => {
                    if let Some(top) = path.last_mut() {
                        top.1 += 1;
                    }
                    match marks.get(child.as_str()) {
                        Some(Mark::Open) => {
                            let from = path.iter().position(|(s, _)| s == child).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                path[from..].iter().map(|(s, _)| s.to_string()).collect();
                            cycle.push(child.clone());
                            return Some(cycle);
                        }
                        Some(Mark::Done) => {}
                        None => {
                            marks.insert(child, Mark::Open);
                            path.push((child, 0));
                        }
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn cycles_are_found_with_their_path_and_dags_pass() {
        let dag = graph(&[("a", &["b", "c"]), ("b", &["c"]), ("c", &["d"])]);
        assert_eq!(find_cycle(&dag), None);
        let cycle = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(find_cycle(&cycle).unwrap(), ["a", "b", "c", "a"]);
        assert_eq!(find_cycle(&graph(&[("a", &["a"])])).unwrap(), ["a", "a"]);
    }
}
