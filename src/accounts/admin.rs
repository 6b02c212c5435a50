//! User management for administrators: listing, and changing scopes or the
//! disabled flag, which an administrator may not do to lock themselves out.
//! Nor may anyone (another administrator, a client holding `admin`) leave
//! the service without an enabled administrator: the store checks that in
//! the same atomic step as the change ([`crate::store::Store::update_user`]),
//! so two administrators demoting each other at once keep one of them.
//! `sigil users promote` is the way back in when none can log in.

use uuid::Uuid;

use super::{
    Account, AccountChanges, AccountError, Accounts, Field, FieldError, Principal, scopes,
};

impl Accounts {
    /// One page of users, oldest first.
    pub async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<Account>, AccountError> {
        let users = self.store.list_users(limit, offset).await?;
        Ok(users.into_iter().map(Account::from).collect())
    }

    /// Changes a user's scopes or disabled flag; disabling revokes their refresh tokens.
    ///
    /// [`AccountError::SelfLockout`] when `admin` would demote or disable
    /// themselves; [`AccountError::LastAdmin`] when no enabled administrator
    /// would be left.
    pub async fn update_user(
        &self,
        admin: &Principal,
        id: Uuid,
        patch: AccountChanges,
    ) -> Result<Account, AccountError> {
        if let Some(scopes) = &patch.scopes
            && let Some(unknown) = self.scopes.first_unknown(scopes)
        {
            return Err(AccountError::Invalid(vec![FieldError::new(
                Field::Scopes,
                format!("unknown scope {unknown:?}"),
            )]));
        }
        // A client with `admin` has no account of its own to lock out.
        if admin.user().is_some_and(|user| user.id == id) {
            let demotes = patch
                .scopes
                .as_ref()
                .is_some_and(|s| !s.iter().any(|s| s == scopes::ADMIN));
            if demotes || patch.disabled == Some(true) {
                return Err(AccountError::SelfLockout);
            }
        }
        let user = self
            .store
            .update_user(id, patch.into())
            .await?
            .ok_or(AccountError::NoSuchUser)?;
        tracing::info!(target: "audit", event = "user_updated", admin_id = %admin.id(), user_id = %user.id, scopes = %user.scopes.join(" "), disabled = user.disabled);
        Ok(user.into())
    }
}

#[cfg(test)]
mod tests {
    use super::scopes;

    #[test]
    fn the_store_counts_administrators_by_the_scope_the_domain_calls_admin() {
        assert_eq!(crate::store::ADMIN_SCOPE, scopes::ADMIN);
    }
}
