//! The roles an application knows, lowest first: a role may do what every role below it may.

/// An ordered set of role names, e.g. `["viewer", "reviewer", "admin"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleSet(&'static [&'static str]);

/// The hub's dashboard: viewers read, reviewers also accept or return reports, admins everything.
pub const HUB: RoleSet = RoleSet(&["viewer", "reviewer", "admin"]);
/// The node's office UI: clerks import and fill in; admins also manage the node.
pub const NODE: RoleSet = RoleSet(&["clerk", "admin"]);

impl RoleSet {
    pub const fn new(roles: &'static [&'static str]) -> RoleSet {
        RoleSet(roles)
    }

    /// The rank of `role` (0 = lowest), or `None` when this application has no such role.
    pub fn rank(&self, role: &str) -> Option<usize> {
        self.0.iter().position(|r| *r == role)
    }

    /// Whether a user with role `have` may do what needs `need`.
    pub fn allows(&self, have: &str, need: &str) -> bool {
        match (self.rank(have), self.rank(need)) {
            (Some(h), Some(n)) => h >= n,
            _ => false,
        }
    }

    /// The names, lowest first, joined with `|` for error messages.
    pub fn names(&self) -> String {
        self.0.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_higher_role_may_do_what_a_lower_may_and_not_the_reverse() {
        assert!(HUB.allows("admin", "reviewer"));
        assert!(HUB.allows("reviewer", "reviewer"));
        assert!(!HUB.allows("viewer", "reviewer"));
        assert!(!NODE.allows("clerk", "admin"));
        assert!(
            !NODE.allows("reviewer", "clerk"),
            "a role of another set is no role here"
        );
    }
}
