//! Third-party sign-in (`ThirdPartyStore`): a tenant's providers, the flows under way and the
//! identities linking a provider's subject to a user. A flow is taken with one
//! `DELETE … RETURNING`, so a state works once whoever races for it; a link is made only while
//! the user still has the email it was decided on, and its pre-takeover clean-up only while the
//! email is still unverified — both checked in the statements themselves. Must not depend on
//! `service` or `http`.

use super::sessions::{refresh_token_insert, session_insert};
use super::throttle::{count_subjects, settle_subjects};
use super::users::{user_inserts, TenantUserRow, TENANT_USER_COLUMNS};
use super::{
    audit_insert, changed, corrupt, first_changed, json_list, opt_text, rows, size, text, time,
    SqlBackend, SqlStore, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ProviderId, TenantId};
use crate::domain::links::WebUrl;
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::thirdparty::{Endpoints, Flow, Identity, Provider, ProviderKind, TokenAuth};
use crate::domain::throttle::ThrottlePolicy;
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User};
use crate::domain::Error;
use crate::store::{Counted, LinkedUser, Settlement, ThirdPartyStore};
use serde::Deserialize;

const PROVIDER_COLUMNS: &str = "app_id, tenant_id, id, kind, issuer, client_id, client_secret, \
     scopes, authorization_endpoint, token_endpoint, jwks_uri, userinfo_endpoint, token_auth, \
     created_at, updated_at";

#[derive(Deserialize)]
struct ProviderRow {
    app_id: String,
    tenant_id: String,
    id: String,
    kind: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: Option<String>,
    userinfo_endpoint: Option<String>,
    token_auth: String,
    created_at: i64,
    updated_at: i64,
}

impl ProviderRow {
    fn into_provider(self) -> Result<Provider, Error> {
        let bad = |_| corrupt("thirdparty_providers");
        let url =
            |raw: &str| WebUrl::from_stored(raw).ok_or_else(|| corrupt("thirdparty_providers"));
        Ok(Provider {
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            id: ProviderId::parse(&self.id).map_err(bad)?,
            kind: ProviderKind::parse(&self.kind).map_err(bad)?,
            issuer: url(&self.issuer)?,
            client_id: self.client_id,
            sealed_secret: self.client_secret,
            scopes: serde_json::from_str(&self.scopes)
                .map_err(|_| corrupt("thirdparty_providers"))?,
            endpoints: Endpoints {
                authorization_endpoint: url(&self.authorization_endpoint)?,
                token_endpoint: url(&self.token_endpoint)?,
                jwks_uri: self.jwks_uri.as_deref().map(url).transpose()?,
                userinfo_endpoint: self.userinfo_endpoint.as_deref().map(url).transpose()?,
                token_auth: TokenAuth::parse(&self.token_auth)
                    .ok_or_else(|| corrupt("thirdparty_providers"))?,
            },
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
        })
    }
}

fn provider_lookup(app: &AppId, tenant: &TenantId, id: &ProviderId) -> Statement {
    Statement::new(
        format!(
            "SELECT {PROVIDER_COLUMNS} FROM thirdparty_providers \
             WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3"
        ),
        vec![text(app.as_str()), text(tenant.as_str()), text(id.as_str())],
    )
}

const FLOW_COLUMNS: &str =
    "state_hash, app_id, tenant_id, provider_id, redirect_uri, created_at, expires_at";

#[derive(Deserialize)]
struct FlowRow {
    state_hash: String,
    app_id: String,
    tenant_id: String,
    provider_id: String,
    redirect_uri: String,
    created_at: i64,
    expires_at: i64,
}

impl FlowRow {
    fn into_flow(self) -> Result<Flow, Error> {
        let bad = |_| corrupt("thirdparty_flows");
        Ok(Flow {
            state_hash: SecretHash::from_stored(self.state_hash),
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            provider_id: ProviderId::parse(&self.provider_id).map_err(bad)?,
            redirect_uri: WebUrl::from_stored(&self.redirect_uri)
                .ok_or_else(|| corrupt("thirdparty_flows"))?,
            created_at: Timestamp::from_unix_ms(self.created_at),
            expires_at: Timestamp::from_unix_ms(self.expires_at),
        })
    }
}

/// An identity joined with its face and user: `TENANT_USER_COLUMNS` plus the identity's own.
#[derive(Deserialize)]
struct LinkedRow {
    #[serde(flatten)]
    face: TenantUserRow,
    identity_provider_id: String,
    identity_subject: String,
    identity_issuer: String,
    identity_email: Option<String>,
    identity_created_at: i64,
}

/// Inserts an identity — with `guard`, a condition in terms of `?1` app, `?2` tenant and `?6`
/// user that must hold for the row to be written.
fn identity_insert(identity: &Identity, guard: &str) -> Statement {
    Statement::new(
        format!(
            "INSERT INTO user_identities \
             (app_id, tenant_id, provider_id, subject, issuer, user_id, email, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE {guard}"
        ),
        vec![
            text(identity.app_id.as_str()),
            text(identity.tenant_id.as_str()),
            text(identity.provider_id.as_str()),
            text(&identity.subject),
            text(&identity.issuer),
            text(&identity.user_id.to_string()),
            opt_text(identity.email.as_ref().map(Email::as_str)),
            time(identity.created_at),
        ],
    )
}

fn settle(app: &AppId, tenant: &TenantId, settle: &Settlement) -> Vec<Statement> {
    settle_subjects(
        app.as_str(),
        tenant.as_str(),
        settle.clear.as_deref(),
        settle.give_back.as_deref(),
    )
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

impl<B: SqlBackend> ThirdPartyStore for SqlStore<B> {
    async fn find_provider(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, Error> {
        self.first::<ProviderRow>(provider_lookup(app, tenant, id))
            .await?
            .map(ProviderRow::into_provider)
            .transpose()
    }

    async fn list_providers(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Provider>, Error> {
        self.all::<ProviderRow>(Statement::new(
            format!(
                "SELECT {PROVIDER_COLUMNS} FROM thirdparty_providers \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
            ),
            vec![
                text(app.as_str()),
                text(tenant.as_str()),
                text(after.unwrap_or("")),
                size(limit),
            ],
        ))
        .await?
        .into_iter()
        .map(ProviderRow::into_provider)
        .collect()
    }

    async fn put_provider(
        &self,
        provider: &Provider,
        audit: &AuditEntry,
    ) -> Result<Option<bool>, Error> {
        let key = || {
            vec![
                text(provider.app_id.as_str()),
                text(provider.tenant_id.as_str()),
                text(provider.id.as_str()),
            ]
        };
        let e = &provider.endpoints;
        let statements = vec![
            // 0: was there one (read before the upsert, in the same transaction).
            Statement::new(
                "SELECT id FROM thirdparty_providers \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3",
                key(),
            ),
            // 1: identities of another issuer are unrelated to the new one's subjects.
            Statement::new(
                "DELETE FROM user_identities \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND provider_id = ?3 AND issuer <> ?4",
                vec![
                    text(provider.app_id.as_str()),
                    text(provider.tenant_id.as_str()),
                    text(provider.id.as_str()),
                    text(provider.issuer.as_str()),
                ],
            ),
            // 2: the upsert, only while the tenant exists.
            Statement::new(
                format!(
                    "INSERT INTO thirdparty_providers ({PROVIDER_COLUMNS}) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14 \
                     WHERE EXISTS (SELECT 1 FROM tenants WHERE app_id = ?1 AND id = ?2) \
                     ON CONFLICT (app_id, tenant_id, id) DO UPDATE SET \
                     kind = excluded.kind, issuer = excluded.issuer, \
                     client_id = excluded.client_id, client_secret = excluded.client_secret, \
                     scopes = excluded.scopes, \
                     authorization_endpoint = excluded.authorization_endpoint, \
                     token_endpoint = excluded.token_endpoint, jwks_uri = excluded.jwks_uri, \
                     userinfo_endpoint = excluded.userinfo_endpoint, \
                     token_auth = excluded.token_auth, updated_at = excluded.updated_at"
                ),
                vec![
                    text(provider.app_id.as_str()),
                    text(provider.tenant_id.as_str()),
                    text(provider.id.as_str()),
                    text(provider.kind.as_str()),
                    text(provider.issuer.as_str()),
                    text(&provider.client_id),
                    text(&provider.sealed_secret),
                    text(&json_list(&provider.scopes)),
                    text(e.authorization_endpoint.as_str()),
                    text(e.token_endpoint.as_str()),
                    opt_text(e.jwks_uri.as_ref().map(WebUrl::as_str)),
                    opt_text(e.userinfo_endpoint.as_ref().map(WebUrl::as_str)),
                    text(e.token_auth.as_str()),
                    time(provider.updated_at),
                ],
            ),
            audit_insert(audit, true),
        ];
        let results = self.batch(statements).await?;
        if !changed(&results, 2)? {
            return Ok(None);
        }
        let existed = !rows::<IdRow, _>(&results, 0)?.is_empty();
        Ok(Some(!existed))
    }

    async fn delete_provider(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let key = || vec![text(app.as_str()), text(tenant.as_str()), text(id.as_str())];
        let results = self
            .batch(vec![
                Statement::new(
                    "DELETE FROM user_identities \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND provider_id = ?3",
                    key(),
                ),
                Statement::new(
                    "DELETE FROM thirdparty_flows \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND provider_id = ?3",
                    key(),
                ),
                Statement::new(
                    "DELETE FROM thirdparty_providers \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3",
                    key(),
                ),
                audit_insert(audit, true),
            ])
            .await?;
        changed(&results, 2)
    }

    async fn begin_flow_step(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
        client: Option<(&str, &'static ThrottlePolicy)>,
        now: Timestamp,
    ) -> Result<Counted<Provider>, Error> {
        let subjects: Vec<(&str, &ThrottlePolicy)> = client.into_iter().collect();
        let lookup = provider_lookup(app, tenant, id);
        let (results, retry_after) =
            count_subjects(self, app.as_str(), tenant.as_str(), lookup, &subjects, now).await?;
        let found = rows::<ProviderRow, _>(&results, 0)?
            .into_iter()
            .next()
            .map(ProviderRow::into_provider)
            .transpose()?;
        Ok(Counted { found, retry_after })
    }

    async fn create_flow(&self, flow: &Flow) -> Result<(), Error> {
        self.run(Statement::new(
            format!(
                "INSERT INTO thirdparty_flows ({FLOW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            vec![
                text(flow.state_hash.as_str()),
                text(flow.app_id.as_str()),
                text(flow.tenant_id.as_str()),
                text(flow.provider_id.as_str()),
                text(flow.redirect_uri.as_str()),
                time(flow.created_at),
                time(flow.expires_at),
            ],
        ))
        .await
        .map(drop)
    }

    async fn take_flow(&self, state: &SecretHash) -> Result<Option<Flow>, Error> {
        let results = self
            .batch(vec![Statement::new(
                format!(
                    "DELETE FROM thirdparty_flows WHERE state_hash = ?1 RETURNING {FLOW_COLUMNS}"
                ),
                vec![text(state.as_str())],
            )])
            .await?;
        rows::<FlowRow, _>(&results, 0)?
            .into_iter()
            .next()
            .map(FlowRow::into_flow)
            .transpose()
    }

    async fn find_identity(
        &self,
        app: &AppId,
        tenant: &TenantId,
        provider: &ProviderId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<LinkedUser>, Error> {
        let row = self
            .first::<LinkedRow>(Statement::new(
                format!(
                    "SELECT {TENANT_USER_COLUMNS}, ui.provider_id AS identity_provider_id, \
                     ui.subject AS identity_subject, ui.issuer AS identity_issuer, \
                     ui.email AS identity_email, ui.created_at AS identity_created_at \
                     FROM user_identities ui \
                     JOIN tenant_users tu ON tu.app_id = ui.app_id \
                       AND tu.tenant_id = ui.tenant_id AND tu.user_id = ui.user_id \
                     JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
                     WHERE ui.app_id = ?1 AND ui.tenant_id = ?2 AND ui.provider_id = ?3 \
                       AND ui.subject = ?4 AND ui.issuer = ?5"
                ),
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(provider.as_str()),
                    text(subject),
                    text(issuer),
                ],
            ))
            .await?;
        let Some(row) = row else { return Ok(None) };
        let bad = |_| corrupt("user_identities");
        let (user, face) = row.face.into_pair()?;
        let identity = Identity {
            app_id: user.app_id.clone(),
            tenant_id: face.tenant_id.clone(),
            provider_id: ProviderId::parse(&row.identity_provider_id).map_err(bad)?,
            subject: row.identity_subject,
            issuer: row.identity_issuer,
            user_id: user.id,
            email: row
                .identity_email
                .as_deref()
                .map(Email::from_stored)
                .transpose()
                .map_err(bad)?,
            created_at: Timestamp::from_unix_ms(row.identity_created_at),
        };
        Ok(Some(LinkedUser {
            identity,
            user,
            face,
        }))
    }

    async fn thirdparty_sign_in(
        &self,
        session: &Session,
        token: &SecretHash,
        settlement: &Settlement,
    ) -> Result<(), Error> {
        let mut statements = vec![
            session_insert(session, false),
            refresh_token_insert(session, token, false),
        ];
        statements.extend(settle(&session.app_id, &session.tenant_id, settlement));
        self.batch(statements).await.map(drop)
    }

    async fn thirdparty_sign_up(
        &self,
        user: &User,
        face: &TenantUser,
        identity: &Identity,
        session: (&Session, &SecretHash),
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        let (session, token) = session;
        // The user while the tenant lacks the email; its face, identity, session and token each
        // only after the statement before.
        let mut statements = user_inserts(user, face);
        statements.push(identity_insert(identity, "changes() > 0"));
        statements.push(session_insert(session, true));
        statements.push(refresh_token_insert(session, token, true));
        statements.extend(settle(&face.app_id, &face.tenant_id, settlement));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn link_identity(
        &self,
        identity: &Identity,
        email: &Email,
        takeover: bool,
        session: (&Session, &SecretHash),
        settlement: &Settlement,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        let (session, token) = session;
        let user_args = || {
            vec![
                text(identity.app_id.as_str()),
                text(&identity.user_id.to_string()),
                time(session.created_at),
                text(&session.id.to_string()),
            ]
        };
        // The link while the user's face still has the email it was decided on (and the
        // subject is not linked yet: the primary key); the session only after it.
        let mut guarded = identity_insert(
            identity,
            "EXISTS (SELECT 1 FROM tenant_users WHERE app_id = ?1 AND tenant_id = ?2 \
             AND user_id = ?6 AND email = ?9) AND NOT EXISTS (SELECT 1 FROM user_identities \
             WHERE app_id = ?1 AND tenant_id = ?2 AND provider_id = ?3 AND subject = ?4)",
        );
        guarded.args.push(text(email.as_str()));
        let mut statements = vec![
            guarded,
            session_insert(session, true),
            refresh_token_insert(session, token, true),
        ];
        let revoke_at = statements.len() + 1;
        if takeover {
            // Whoever made an account of an email they never proved may not own it: its
            // password goes and its sessions end — only after the link was made, and only
            // while the email is still unverified.
            statements.push(Statement::new(
                "UPDATE users SET password_hash = NULL, password_params = NULL, \
                 email_verified_at = ?3 \
                 WHERE app_id = ?1 AND id = ?2 AND email_verified_at IS NULL \
                 AND (SELECT changes()) > 0",
                user_args()[..3].to_vec(),
            ));
            statements.push(Statement::new(
                "UPDATE sessions SET revoked_at = ?3 \
                 WHERE app_id = ?1 AND tenant_id IN \
                   (SELECT tenant_id FROM tenant_users WHERE app_id = ?1 AND user_id = ?2) \
                 AND user_id = ?2 AND revoked_at IS NULL AND id <> ?4 \
                 AND (SELECT changes()) > 0 RETURNING id",
                user_args(),
            ));
            // The documents of the user's tenants list the revocations: each is bumped with
            // them, so they converge even when KV fails now.
            statements.push(Statement::new(
                "INSERT INTO edge_sync (doc, version, synced_version, changed_at) \
                 SELECT 'flags:' || app_id || ':' || tenant_id || ':' || user_id, 1, 0, ?3 \
                 FROM tenant_users WHERE app_id = ?1 AND user_id = ?2 \
                 AND (SELECT changes()) > 0 \
                 ON CONFLICT (doc) DO UPDATE SET version = version + 1, \
                 changed_at = excluded.changed_at",
                user_args()[..3].to_vec(),
            ));
        }
        statements.extend(settle(&identity.app_id, &identity.tenant_id, settlement));
        let results = self.batch(statements).await?;
        if !first_changed(&results)? {
            return Ok(None);
        }
        if !takeover {
            return Ok(Some(Vec::new()));
        }
        rows::<IdRow, _>(&results, revoke_at)?
            .iter()
            .map(|r| SessionId::parse(&r.id).map_err(|_| corrupt("sessions")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    async fn prune_flows(&self, now: Timestamp, limit: usize) -> Result<usize, Error> {
        self.run(Statement::new(
            "DELETE FROM thirdparty_flows WHERE state_hash IN \
             (SELECT state_hash FROM thirdparty_flows WHERE expires_at <= ?1 LIMIT ?2)",
            vec![time(now), size(limit)],
        ))
        .await
    }
}

/// The providers a face's subquery lists (`TENANT_USER_COLUMNS`), as stored: a JSON array.
pub(super) fn providers_of(raw: &str) -> Result<Vec<ProviderId>, Error> {
    let ids: Vec<String> = serde_json::from_str(raw).map_err(|_| corrupt("user_identities"))?;
    let mut ids = ids
        .iter()
        .map(|id| ProviderId::parse(id).map_err(|_| corrupt("user_identities")))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}
