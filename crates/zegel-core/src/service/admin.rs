//! Organisations, users and API tokens.

use super::{new_id, validate, Zegel};
use crate::error::{Conflict, Error, Invalid, Result};
use crate::model::*;
use crate::StoreError;

/// CONTRACT: API tokens start with this prefix (secret scanners key on it). Never change it.
pub const API_TOKEN_PREFIX: &str = "zgl_";
/// The shortest password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Slug of the organisation new senders join when none is named.
pub const DEFAULT_ORG_SLUG: &str = "default";

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUserReq {
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Organisation slug (default organisation when `None`).
    pub org_slug: Option<String>,
    /// Initial password.
    pub password: Option<String>,
    /// What the account may do.
    pub role: Role,
}

/// What `zegel demo` sets up.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    /// The demo sender.
    pub sender: User,
    /// Whether the sender was created now.
    pub created: bool,
}

impl Zegel {
    /// Creates an organisation with its own key.
    pub async fn create_org(&self, slug: &str, name: &str) -> Result<Organisation> {
        let slug = slug.trim().to_lowercase();
        if slug.is_empty()
            || slug.len() > 64
            || !slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Invalid::Slug.into());
        }
        let name = validate::single_line(name);
        if name.is_empty() {
            return Err(Invalid::OrgName.into());
        }
        let now = Ts::now();
        let id = new_id();
        let key = self.keys.new_org_key(&id, now);
        let org = Organisation {
            id,
            slug,
            name,
            active_kek_id: key.id.clone(),
            created_at: now,
        };
        let kcv = self.keys.key_check_value();
        self.store.create_org(&org, &key, Some(&kcv)).await?;
        Ok(org)
    }

    /// The organisation by slug, created with `name` when missing (safe under races).
    pub async fn ensure_org(&self, slug: &str, name: &str) -> Result<Organisation> {
        if let Some(o) = self.store.org_by_slug(slug).await? {
            return Ok(o);
        }
        match self.create_org(slug, name).await {
            Ok(o) => Ok(o),
            Err(Error::Conflict(_)) => self.store.org_by_slug(slug).await?.ok_or(Error::NotFound),
            Err(e) => Err(e),
        }
    }

    /// Creates a user.
    pub async fn create_user(&self, req: NewUserReq) -> Result<User> {
        let email = validate::email(&req.email)?;
        let org = match &req.org_slug {
            Some(s) => self.store.org_by_slug(s).await?.ok_or(Error::NotFound)?,
            None => self.ensure_org(DEFAULT_ORG_SLUG, "Zegel").await?,
        };
        let password_hash = match &req.password {
            Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(Invalid::PasswordTooShort {
                    min: MIN_PASSWORD_CHARS,
                }
                .into())
            }
            Some(p) => Some(zegel_crypto::hash_password(p)?),
            None => None,
        };
        let name = validate::single_line(&req.name);
        let user = User {
            id: new_id(),
            org_id: org.id,
            name: if name.is_empty() { email.clone() } else { name },
            email,
            password_hash,
            role: req.role,
            created_at: Ts::now(),
        };
        self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => Error::from(Conflict::UserExists),
            e => Error::from(e),
        })?;
        Ok(user)
    }

    /// The user with this e-mail, created (as a sender in the default organisation) when
    /// missing.
    pub async fn ensure_user(&self, email: &str) -> Result<User> {
        let e = validate::email(email)?;
        if let Some(u) = self.store.user_by_email(&e).await? {
            return Ok(u);
        }
        match self
            .create_user(NewUserReq {
                email: e.clone(),
                name: String::new(),
                org_slug: None,
                password: None,
                role: Role::Sender,
            })
            .await
        {
            Err(Error::Conflict(_)) => self.store.user_by_email(&e).await?.ok_or(Error::NotFound),
            r => r,
        }
    }

    /// A new API token for a user; the token is returned once, only its hash is kept.
    pub async fn create_api_token(&self, user: &User, label: &str) -> Result<String> {
        self.create_api_token_for(user, label, None).await
    }

    /// As [`Zegel::create_api_token`], asked for by the client `ctx` (its address goes into
    /// the audit entry the store writes with the token).
    pub(crate) async fn create_api_token_for(
        &self,
        user: &User,
        label: &str,
        ctx: Option<&super::ClientCtx>,
    ) -> Result<String> {
        let token = format!("{API_TOKEN_PREFIX}{}", zegel_crypto::random_token());
        self.store
            .create_api_token(&NewApiToken {
                id: new_id(),
                user_id: user.id.clone(),
                token_hash: zegel_crypto::token_hash(&token),
                label: validate::single_line(label),
                created_at: Ts::now(),
                ip: ctx.and_then(|c| c.ip.clone()),
                user_agent: ctx.and_then(|c| c.user_agent.clone()),
            })
            .await?;
        Ok(token)
    }

    /// The user owning a presented API token, with the organisation and its policy (one
    /// read); a wrong prefix is refused before any query.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<Principal> {
        if !token.starts_with(API_TOKEN_PREFIX) || token.len() > 200 {
            return Err(Error::Unauthorized);
        }
        self.store
            .principal_by_token_hash(&zegel_crypto::token_hash(token), Ts::now())
            .await?
            .ok_or(Error::Unauthorized)
    }

    /// Demo organisation and sender (idempotent).
    pub async fn demo_setup(&self) -> Result<DemoSetup> {
        let org = self.ensure_org(DEFAULT_ORG_SLUG, "Ziekenhuis Demo").await?;
        let email = "demo.arts@zegel.localhost";
        if let Some(u) = self.store.user_by_email(email).await? {
            return Ok(DemoSetup {
                sender: u,
                created: false,
            });
        }
        let sender = self
            .create_user(NewUserReq {
                email: email.into(),
                name: "Dr. A. de Vries".into(),
                org_slug: Some(org.slug),
                password: None,
                role: Role::Sender,
            })
            .await?;
        Ok(DemoSetup {
            sender,
            created: true,
        })
    }
}
