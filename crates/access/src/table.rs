//! The access table: what each role may do on its profile. Every route's check reads it
//! (`allows`); nothing else grants an account anything on a profile.
//!
//! | role   | may                                                                     |
//! |--------|-------------------------------------------------------------------------|
//! | owner  | everything: profile, links, cache, analytics, webhooks, keys, members, delete |
//! | editor | profile:read, profile:write, links:write, cache:write, analytics:read   |
//! | viewer | profile:read, analytics:read                                            |
//! Must not: look up accounts or profiles (callers bring the role), or grant anything outside this
//! table.

use linkleaf_domain::Scope;
use linkleaf_domain::account::Role;

/// Something done to a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// What an API key's scope names.
    Scope(Scope),
    /// Add, change or remove members.
    Members,
    /// Make, list and revoke keys bound to the profile.
    Keys,
    /// Delete the profile.
    Delete,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Scope(Scope::ProfileRead),
        Action::Scope(Scope::ProfileWrite),
        Action::Scope(Scope::LinksWrite),
        Action::Scope(Scope::CacheWrite),
        Action::Scope(Scope::AnalyticsRead),
        Action::Scope(Scope::WebhooksWrite),
        Action::Members,
        Action::Keys,
        Action::Delete,
    ];
}

/// Whether `role` may do `action` on its profile.
pub fn allows(role: Role, action: Action) -> bool {
    match role {
        Role::Owner => true,
        Role::Editor => matches!(
            action,
            Action::Scope(
                Scope::ProfileRead
                    | Scope::ProfileWrite
                    | Scope::LinksWrite
                    | Scope::CacheWrite
                    | Scope::AnalyticsRead
            )
        ),
        Role::Viewer => matches!(
            action,
            Action::Scope(Scope::ProfileRead | Scope::AnalyticsRead)
        ),
    }
}

/// The scopes a key made by a member of `role` may hold (within the maker's role).
pub fn scopes_within(role: Role) -> Vec<Scope> {
    Scope::ALL
        .into_iter()
        .filter(|s| allows(role, Action::Scope(*s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_as_the_issue_writes_it() {
        use Scope::*;
        let editor = [
            ProfileRead,
            ProfileWrite,
            LinksWrite,
            CacheWrite,
            AnalyticsRead,
        ];
        let viewer = [ProfileRead, AnalyticsRead];
        for a in Action::ALL {
            assert!(allows(Role::Owner, a), "owner {a:?}");
            let in_editor = matches!(a, Action::Scope(s) if editor.contains(&s));
            let in_viewer = matches!(a, Action::Scope(s) if viewer.contains(&s));
            assert_eq!(allows(Role::Editor, a), in_editor, "editor {a:?}");
            assert_eq!(allows(Role::Viewer, a), in_viewer, "viewer {a:?}");
        }
        assert_eq!(scopes_within(Role::Viewer), viewer);
        assert_eq!(scopes_within(Role::Owner).len(), Scope::ALL.len());
    }

    #[test]
    fn a_higher_role_may_do_all_a_lower_may() {
        for a in Action::ALL {
            if allows(Role::Viewer, a) {
                assert!(allows(Role::Editor, a));
            }
            if allows(Role::Editor, a) {
                assert!(allows(Role::Owner, a));
            }
        }
    }
}
