//! Reading PostgreSQL's constraint violations, so that adapters can turn them into the
//! domain's own errors (a taken e-mail is a conflict, not a 500).

use diesel::result::{DatabaseErrorKind, Error};

/// A constraint the database enforced, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation<'a> {
    /// A unique constraint or index.
    Unique(&'a str),
    /// A foreign key.
    ForeignKey(&'a str),
    /// A CHECK constraint.
    Check(&'a str),
}

/// The constraint `e` violated, if it is a constraint violation.
pub(crate) fn constraint_violation(e: &Error) -> Option<Violation<'_>> {
    let Error::DatabaseError(kind, info) = e else {
        return None;
    };
    let name = info.constraint_name()?;
    match kind {
        DatabaseErrorKind::UniqueViolation => Some(Violation::Unique(name)),
        DatabaseErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey(name)),
        DatabaseErrorKind::CheckViolation => Some(Violation::Check(name)),
        _ => None,
    }
}
