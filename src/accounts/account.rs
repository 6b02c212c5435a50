//! An account as the layers above see it: everything about a user except the
//! password hash, which never leaves the account service.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{User, UserPatch};

/// A user account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable identifier.
    pub id: Uuid,
    /// The email address as registered, in its original case.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Scopes granted to the account.
    pub scopes: Vec<String>,
    /// A disabled account may not log in or refresh.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        let User {
            id,
            email,
            name,
            password_hash: _,
            scopes,
            disabled,
            created_at,
        } = user;
        Account {
            id,
            email,
            name,
            scopes,
            disabled,
            created_at,
        }
    }
}

/// What an administrator may change about an account; `None` leaves it as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChanges {
    /// The complete new list of scopes.
    pub scopes: Option<Vec<String>>,
    /// Disable (`Some(true)`) or re-enable (`Some(false)`) the account.
    pub disabled: Option<bool>,
}

impl From<AccountChanges> for UserPatch {
    fn from(changes: AccountChanges) -> Self {
        UserPatch {
            scopes: changes.scopes,
            disabled: changes.disabled,
        }
    }
}
