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

/// Whether `e` says the connection to the server is gone (the server restarted, or an
/// administrator ended the backend) rather than that the query was wrong: the database is
/// unavailable (503, retry), not the request broken (500). A pooled connection is only
/// verified after it sat idle, so this is how a connection that died since its last use
/// is answered.
pub(crate) fn lost_connection(e: &Error) -> bool {
    match e {
        Error::BrokenTransactionManager => true,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        // PostgreSQL's words for SQLSTATE 57P01–57P03 (admin, crash and startup
        // shutdowns), which diesel does not classify.
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.starts_with("terminating connection")
                || message.starts_with("the database system is")
        }
        _ => false,
    }
}
