//! `scope_implies`: a broader scope grants narrower ones (the MCP draft's "scope
//! hierarchies"). Compiled into each scope's transitive closure, so a check is one lookup
//! per held scope; `*` grants every scope. Cycles are refused by the config compiler.

use std::collections::{BTreeMap, BTreeSet};

/// The scope named `*` in `scope_implies` values: every scope.
pub const ANY_SCOPE: &str = "*";

/// Each scope's closure (itself excluded): what holding it also grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeImplications {
    closure: BTreeMap<String, BTreeSet<String>>,
}

impl ScopeImplications {
    /// From `direct` (scope → the scopes it names), already checked to have no cycle.
    pub fn new(direct: &BTreeMap<String, Vec<String>>) -> ScopeImplications {
        let mut closure = BTreeMap::new();
        for scope in direct.keys() {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<&str> = vec![scope];
            while let Some(s) = stack.pop() {
                for implied in direct.get(s).into_iter().flatten() {
                    if seen.insert(implied.clone()) {
                        stack.push(implied);
                    }
                }
            }
            closure.insert(scope.clone(), seen);
        }
        ScopeImplications { closure }
    }

    pub fn is_empty(&self) -> bool {
        self.closure.is_empty()
    }

    /// Each scope with everything it grants, for `check-config`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &str>)> {
        self.closure
            .iter()
            .map(|(scope, implied)| (scope.as_str(), implied.iter().map(String::as_str)))
    }

    /// The held scope that grants `required`: itself if held, else the first (in the
    /// token's order) whose closure holds it or `*`; `None` when nothing does.
    pub fn granted_by<'g>(&self, granted: &[&'g str], required: &str) -> Option<&'g str> {
        if let Some(same) = granted.iter().find(|g| **g == required) {
            return Some(same);
        }
        granted.iter().copied().find(|g| {
            self.closure
                .get(*g)
                .is_some_and(|c| c.contains(required) || c.contains(ANY_SCOPE))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn implications(pairs: &[(&str, &[&str])]) -> ScopeImplications {
        let direct = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        ScopeImplications::new(&direct)
    }

    #[test]
    fn a_scope_grants_its_transitive_closure_and_star_grants_all() {
        let i = implications(&[
            ("files:write", &["files:read"]),
            ("files:admin", &["files:write"]),
            ("admin", &["*"]),
        ]);
        let read = ["files:read"];
        assert_eq!(i.granted_by(&read, "files:read"), Some("files:read"));
        let admin = ["files:admin"];
        assert_eq!(i.granted_by(&admin, "files:read"), Some("files:admin"));
        assert_eq!(i.granted_by(&read, "files:write"), None, "not upwards");
        let star = ["profile", "admin"];
        assert_eq!(i.granted_by(&star, "anything"), Some("admin"));
        assert_eq!(i.granted_by(&[], "files:read"), None);
        let other = ["a"];
        assert_eq!(ScopeImplications::default().granted_by(&other, "b"), None);
    }
}
