//! The OAuth authorization server (`OAuthStore`): a tenant's settings (a JSON column of
//! `tenants`), its clients, the authorization codes under way and remembered consents. An
//! approval's consent is remembered in the same batch as the code it gives; a code is redeemed
//! with one conditional `UPDATE` in the same batch as the session it starts, so it works once
//! whoever races for it; ending a client's grants revokes its sessions and bumps their users'
//! edge documents in one batch; a client's update and secret rotation are conditional on its
//! `version` (compare-and-swap), which they bump. Must not depend on `service` or `http`.

use super::sessions::{refresh_token_insert, session_insert};
use super::tenancy::LIVE_TENANT;
use super::{
    audit_insert, corrupt, first_changed, int, json_list, opt_text, rows, size, text, time,
    SqlBackend, SqlResult, SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::client_assertion::ClientKeys;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::links::WebUrl;
use crate::domain::oauth::{
    AuthMethod, AuthorizationCode, Client, ClientId, ClientStatus, ClientType, Consent, GrantType,
    OAuthSettings,
};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::time::Timestamp;
use crate::domain::user::UserId;
use crate::domain::Error;
use crate::store::{AssertionUse, OAuthStore};
use serde::Deserialize;

const CLIENT_COLUMNS: &str = "app_id, tenant_id, id, name, type, auth_method, redirect_uris, \
     grant_types, scopes, status, secret_hash, tokens_revoked_before, self_registered, created_at, \
     updated_at, jwks, version";

#[derive(Deserialize)]
struct ClientRow {
    app_id: String,
    tenant_id: String,
    id: String,
    name: String,
    #[serde(rename = "type")]
    client_type: String,
    auth_method: String,
    redirect_uris: String,
    grant_types: String,
    scopes: String,
    status: String,
    secret_hash: Option<String>,
    tokens_revoked_before: Option<i64>,
    self_registered: i64,
    created_at: i64,
    updated_at: i64,
    jwks: Option<String>,
    version: i64,
}

impl ClientRow {
    fn into_client(self) -> Result<Client, Error> {
        let bad = |_| corrupt("oauth_clients");
        let list = |raw: &str| -> Result<Vec<String>, Error> {
            serde_json::from_str(raw).map_err(|_| corrupt("oauth_clients"))
        };
        Ok(Client {
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            id: ClientId::parse(&self.id).ok_or_else(|| corrupt("oauth_clients"))?,
            name: self.name,
            client_type: ClientType::parse(&self.client_type).map_err(bad)?,
            auth_method: AuthMethod::parse(&self.auth_method).map_err(bad)?,
            redirect_uris: list(&self.redirect_uris)?
                .iter()
                .map(|u| WebUrl::from_stored(u).ok_or_else(|| corrupt("oauth_clients")))
                .collect::<Result<_, _>>()?,
            grant_types: list(&self.grant_types)?
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("oauth_clients")))
                .collect::<Result<_, _>>()?,
            scopes: list(&self.scopes)?,
            status: ClientStatus::parse(&self.status).map_err(bad)?,
            secret_hash: self.secret_hash.map(SecretHash::from_stored),
            jwks: self
                .jwks
                .as_deref()
                .map(|raw| ClientKeys::from_stored(raw).ok_or_else(|| corrupt("oauth_clients")))
                .transpose()?,
            tokens_revoked_before: self.tokens_revoked_before.map(Timestamp::from_unix_ms),
            self_registered: self.self_registered != 0,
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
            version: self.version,
        })
    }
}

fn grant_names(client: &Client) -> String {
    let names: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    json_list(&names)
}

fn uri_list(client: &Client) -> String {
    let uris: Vec<&str> = client.redirect_uris.iter().map(WebUrl::as_str).collect();
    json_list(&uris)
}

const CODE_COLUMNS: &str = "code_hash, app_id, tenant_id, client_id, user_id, redirect_uri, \
     code_challenge, scope, resource, created_at, expires_at, used_at, session_id";

#[derive(Deserialize)]
struct CodeRow {
    code_hash: String,
    app_id: String,
    tenant_id: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    resource: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    session_id: Option<String>,
}

impl CodeRow {
    fn into_code(self) -> Result<AuthorizationCode, Error> {
        let bad = |_| corrupt("oauth_codes");
        let used = match (self.used_at, self.session_id) {
            (Some(at), Some(session)) => Some((
                Timestamp::from_unix_ms(at),
                SessionId::parse(&session).map_err(bad)?,
            )),
            (None, None) => None,
            _ => return Err(corrupt("oauth_codes")),
        };
        Ok(AuthorizationCode {
            hash: SecretHash::from_stored(self.code_hash),
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(bad)?,
            client_id: ClientId::parse(&self.client_id).ok_or_else(|| corrupt("oauth_codes"))?,
            user_id: UserId::parse(&self.user_id).map_err(bad)?,
            redirect_uri: self.redirect_uri,
            code_challenge: self.code_challenge,
            scope: self.scope,
            resource: self.resource,
            created_at: Timestamp::from_unix_ms(self.created_at),
            expires_at: Timestamp::from_unix_ms(self.expires_at),
            used,
        })
    }
}

#[derive(Deserialize)]
struct ConsentRow {
    scope: String,
    fingerprint: String,
    created_at: i64,
}

#[derive(Deserialize)]
struct SettingsRow {
    oauth: Option<String>,
}

#[derive(Deserialize)]
struct UserRow {
    user_id: String,
}

/// Revokes every live session `?3` holds in tenant `?1`/`?2` at `?4`, bumping each of their
/// users' edge documents first (statement 0 answers the users) — all only when the audit entry
/// `?5` was written earlier in the batch (the change happened).
fn end_grants(
    app: &AppId,
    tenant: &TenantId,
    client: &ClientId,
    now: Timestamp,
    audit: &AuditEntry,
) -> Vec<Statement> {
    let args = || {
        vec![
            text(app.as_str()),
            text(tenant.as_str()),
            text(client.as_str()),
            time(now),
            text(&audit.id.to_string()),
        ]
    };
    let held = "app_id = ?1 AND tenant_id = ?2 AND client_id = ?3 AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM audit_log WHERE id = ?5)";
    vec![
        Statement::new(
            format!("SELECT DISTINCT user_id FROM sessions WHERE {held} AND ?4 = ?4"),
            args(),
        ),
        Statement::new(
            format!(
                "INSERT INTO edge_sync (doc, version, synced_version, changed_at) \
                 SELECT DISTINCT 'flags:' || app_id || ':' || tenant_id || ':' || user_id, \
                 1, 0, ?4 FROM sessions WHERE {held} \
                 ON CONFLICT (doc) DO UPDATE SET version = version + 1, \
                 changed_at = excluded.changed_at"
            ),
            args(),
        ),
        Statement::new(
            format!("UPDATE sessions SET revoked_at = ?4 WHERE {held}"),
            args(),
        ),
    ]
}

fn scopes_of(raw: &str) -> Vec<String> {
    raw.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Writes a new code (its user must have a face: a foreign key).
fn code_insert(code: &AuthorizationCode) -> Statement {
    Statement::new(
        format!(
            "INSERT INTO oauth_codes ({CODE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL)"
        ),
        vec![
            text(code.hash.as_str()),
            text(code.app_id.as_str()),
            text(code.tenant_id.as_str()),
            text(code.client_id.as_str()),
            text(&code.user_id.to_string()),
            text(&code.redirect_uri),
            text(&code.code_challenge),
            text(&code.scope),
            opt_text(code.resource.as_deref()),
            time(code.created_at),
            time(code.expires_at),
        ],
    )
}

/// Remembers (or replaces) a consent; nothing when the user has no face in the tenant.
fn consent_upsert(consent: &Consent) -> Statement {
    Statement::new(
        "INSERT INTO oauth_consents \
         (app_id, tenant_id, user_id, client_id, scope, fingerprint, created_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM tenant_users \
         WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3) \
         ON CONFLICT (app_id, tenant_id, user_id, client_id) DO UPDATE SET \
         scope = excluded.scope, fingerprint = excluded.fingerprint, \
         created_at = excluded.created_at",
        vec![
            text(consent.app_id.as_str()),
            text(consent.tenant_id.as_str()),
            text(&consent.user_id.to_string()),
            text(consent.client_id.as_str()),
            text(&consent.scopes.join(" ")),
            text(&consent.fingerprint),
            time(consent.created_at),
        ],
    )
}

fn users_of(rows: Vec<UserRow>) -> Result<Vec<UserId>, Error> {
    rows.iter()
        .map(|r| UserId::parse(&r.user_id).map_err(|_| corrupt("sessions")))
        .collect()
}

impl<B: SqlBackend> OAuthStore for SqlStore<B> {
    async fn find_oauth_settings(
        &self,
        app: &AppId,
        tenant: &TenantId,
    ) -> Result<Option<OAuthSettings>, Error> {
        let Some(row) = self
            .first::<SettingsRow>(Statement::new(
                format!(
                    "SELECT oauth FROM tenants WHERE app_id = ?1 AND id = ?2 AND {LIVE_TENANT}"
                ),
                vec![text(app.as_str()), text(tenant.as_str())],
            ))
            .await?
        else {
            return Ok(None);
        };
        OAuthSettings::from_stored(row.oauth.as_deref()).map(Some)
    }

    async fn put_oauth_settings(
        &self,
        app: &AppId,
        tenant: &TenantId,
        settings: &OAuthSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let stored = serde_json::to_string(settings)
            .map_err(|_| Error::Internal("cannot encode OAuth settings".to_owned()))?;
        let results = self
            .batch(vec![
                Statement::new(
                    format!(
                        "UPDATE tenants SET oauth = ?3 WHERE app_id = ?1 AND id = ?2 \
                         AND {LIVE_TENANT}"
                    ),
                    vec![text(app.as_str()), text(tenant.as_str()), text(&stored)],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn create_client(&self, client: &Client, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    format!(
                        "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) \
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?14, ?15, ?12, ?13, ?16, ?17 \
                         WHERE EXISTS (SELECT 1 FROM tenants WHERE app_id = ?1 AND id = ?2 \
                         AND {LIVE_TENANT})"
                    ),
                    vec![
                        text(client.app_id.as_str()),
                        text(client.tenant_id.as_str()),
                        text(client.id.as_str()),
                        text(&client.name),
                        text(client.client_type.as_str()),
                        text(client.auth_method.as_str()),
                        text(&uri_list(client)),
                        text(&grant_names(client)),
                        text(&json_list(&client.scopes)),
                        text(client.status.as_str()),
                        opt_text(client.secret_hash.as_ref().map(SecretHash::as_str)),
                        time(client.created_at),
                        time(client.updated_at),
                        client.tokens_revoked_before.map_or(SqlValue::Null, time),
                        int(i64::from(client.self_registered)),
                        opt_text(client.jwks.as_ref().map(ClientKeys::to_stored).as_deref()),
                        int(client.version),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_client(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Client>, Error> {
        self.first::<ClientRow>(Statement::new(
            format!(
                "SELECT {CLIENT_COLUMNS} FROM oauth_clients \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3"
            ),
            vec![text(app.as_str()), text(tenant.as_str()), text(id.as_str())],
        ))
        .await?
        .map(ClientRow::into_client)
        .transpose()
    }

    async fn list_clients(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, Error> {
        self.all::<ClientRow>(Statement::new(
            format!(
                "SELECT {CLIENT_COLUMNS} FROM oauth_clients \
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
        .map(ClientRow::into_client)
        .collect()
    }

    async fn update_client(
        &self,
        client: &Client,
        end_grants_too: bool,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<UserId>>, Error> {
        let (app, tenant, id) = (&client.app_id, &client.tenant_id, &client.id);
        let mut statements = vec![
            Statement::new(
                "UPDATE oauth_clients SET name = ?4, redirect_uris = ?5, grant_types = ?6, \
                 scopes = ?7, status = ?8, updated_at = ?9, \
                 tokens_revoked_before = max(coalesce(tokens_revoked_before, 0), ?10), \
                 jwks = CASE WHEN auth_method = 'private_key_jwt' THEN ?11 ELSE jwks END, \
                 version = version + 1 \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3 AND version = ?12",
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(id.as_str()),
                    text(&client.name),
                    text(&uri_list(client)),
                    text(&grant_names(client)),
                    text(&json_list(&client.scopes)),
                    text(client.status.as_str()),
                    time(client.updated_at),
                    int(client.tokens_revoked_before.map_or(0, |t| t.unix_ms())),
                    opt_text(client.jwks.as_ref().map(ClientKeys::to_stored).as_deref()),
                    int(client.version),
                ],
            ),
            audit_insert(audit, true),
        ];
        if end_grants_too {
            statements.extend(end_grants(app, tenant, id, now, audit));
            let done = "app_id = ?1 AND tenant_id = ?2 AND EXISTS \
                 (SELECT 1 FROM audit_log WHERE id = ?5) AND ?4 = ?4";
            let args = || {
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(id.as_str()),
                    time(now),
                    text(&audit.id.to_string()),
                ]
            };
            statements.push(Statement::new(
                format!(
                    "UPDATE oauth_clients SET tokens_revoked_before = ?4 WHERE id = ?3 AND {done}"
                ),
                args(),
            ));
            statements.push(Statement::new(
                format!(
                    "DELETE FROM oauth_codes WHERE client_id = ?3 AND used_at IS NULL AND {done}"
                ),
                args(),
            ));
        }
        let results = self.batch(statements).await?;
        if !first_changed(&results)? {
            return Ok(None);
        }
        if !end_grants_too {
            return Ok(Some(Vec::new()));
        }
        users_of(rows::<UserRow, _>(&results, 2)?).map(Some)
    }

    async fn rotate_client_secret(
        &self,
        client: &Client,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE oauth_clients SET secret_hash = ?4, updated_at = ?5, \
                     version = version + 1 \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3 AND version = ?6 \
                     AND secret_hash IS NOT NULL",
                    vec![
                        text(client.app_id.as_str()),
                        text(client.tenant_id.as_str()),
                        text(client.id.as_str()),
                        opt_text(client.secret_hash.as_ref().map(SecretHash::as_str)),
                        time(client.updated_at),
                        int(client.version),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn delete_client(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<UserId>>, Error> {
        let key = || vec![text(app.as_str()), text(tenant.as_str()), text(id.as_str())];
        let exists = "SELECT 1 FROM oauth_clients WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3";
        let mut statements = vec![
            // 0: the audit entry, only when the client exists (the witness of what follows).
            {
                let mut insert = audit_insert(audit, false);
                insert.sql = format!(
                    "{} WHERE EXISTS ({})",
                    insert.sql,
                    exists
                        .replace("?1", &format!("?{}", insert.args.len() + 1))
                        .replace("?2", &format!("?{}", insert.args.len() + 2))
                        .replace("?3", &format!("?{}", insert.args.len() + 3))
                );
                insert.args.extend(key());
                insert
            },
        ];
        statements.extend(end_grants(app, tenant, id, now, audit));
        statements.push(Statement::new(
            "DELETE FROM oauth_codes WHERE app_id = ?1 AND tenant_id = ?2 AND client_id = ?3",
            key(),
        ));
        statements.push(Statement::new(
            "DELETE FROM oauth_consents WHERE app_id = ?1 AND tenant_id = ?2 AND client_id = ?3",
            key(),
        ));
        statements.push(Statement::new(
            "DELETE FROM oauth_clients WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3",
            key(),
        ));
        let results = self.batch(statements).await?;
        if !first_changed(&results)? {
            return Ok(None);
        }
        users_of(rows::<UserRow, _>(&results, 1)?).map(Some)
    }

    async fn revoke_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
        at: Timestamp,
    ) -> Result<Option<Client>, Error> {
        self.first::<ClientRow>(Statement::new(
            format!(
                "UPDATE oauth_clients SET tokens_revoked_before = ?4 \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3 RETURNING {CLIENT_COLUMNS}"
            ),
            vec![
                text(app.as_str()),
                text(tenant.as_str()),
                text(id.as_str()),
                time(at),
            ],
        ))
        .await?
        .map(ClientRow::into_client)
        .transpose()
    }

    async fn create_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        self.run(code_insert(code)).await.map(drop)
    }

    async fn create_code_with_consent(
        &self,
        code: &AuthorizationCode,
        consent: &Consent,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            consent_upsert(consent),
            code_insert(code),
            audit_insert(audit, true),
        ])
        .await
        .map(drop)
    }

    async fn find_code(&self, hash: &SecretHash) -> Result<Option<AuthorizationCode>, Error> {
        self.first::<CodeRow>(Statement::new(
            format!("SELECT {CODE_COLUMNS} FROM oauth_codes WHERE code_hash = ?1"),
            vec![text(hash.as_str())],
        ))
        .await?
        .map(CodeRow::into_code)
        .transpose()
    }

    async fn redeem_code(
        &self,
        code: &SecretHash,
        session: &Session,
        refresh: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE oauth_codes SET used_at = ?2, session_id = ?3 \
                     WHERE code_hash = ?1 AND used_at IS NULL AND ?2 < expires_at \
                     AND EXISTS (SELECT 1 FROM tenant_users tu WHERE tu.app_id = oauth_codes.app_id \
                     AND tu.tenant_id = oauth_codes.tenant_id AND tu.user_id = oauth_codes.user_id \
                     AND tu.status = 'active') \
                     AND (oauth_codes.client_id LIKE 'https://%' OR EXISTS (SELECT 1 \
                     FROM oauth_clients c WHERE c.app_id = oauth_codes.app_id \
                     AND c.tenant_id = oauth_codes.tenant_id AND c.id = oauth_codes.client_id \
                     AND c.status = 'active'))",
                    vec![text(code.as_str()), time(now), text(&session.id.to_string())],
                ),
                session_insert(session, true),
                refresh_token_insert(session, refresh, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_consent(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, Error> {
        let row = self
            .first::<ConsentRow>(Statement::new(
                "SELECT scope, fingerprint, created_at FROM oauth_consents \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 AND client_id = ?4",
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(&user.to_string()),
                    text(client.as_str()),
                ],
            ))
            .await?;
        Ok(row.map(|row| Consent {
            app_id: app.clone(),
            tenant_id: tenant.clone(),
            user_id: *user,
            client_id: client.clone(),
            scopes: scopes_of(&row.scope),
            fingerprint: row.fingerprint,
            created_at: Timestamp::from_unix_ms(row.created_at),
        }))
    }

    async fn put_consent(&self, consent: &Consent, audit: &AuditEntry) -> Result<(), Error> {
        self.batch(vec![consent_upsert(consent), audit_insert(audit, true)])
            .await
            .map(drop)
    }

    async fn list_consents(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<Consent>, Error> {
        #[derive(Deserialize)]
        struct Row {
            client_id: String,
            scope: String,
            fingerprint: String,
            created_at: i64,
        }
        let rows = self
            .all::<Row>(Statement::new(
                "SELECT client_id, scope, fingerprint, created_at FROM oauth_consents \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 ORDER BY client_id",
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(&user.to_string()),
                ],
            ))
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Consent {
                    app_id: app.clone(),
                    tenant_id: tenant.clone(),
                    user_id: *user,
                    client_id: ClientId::parse(&row.client_id)
                        .ok_or_else(|| corrupt("oauth_consents"))?,
                    scopes: scopes_of(&row.scope),
                    fingerprint: row.fingerprint,
                    created_at: Timestamp::from_unix_ms(row.created_at),
                })
            })
            .collect()
    }

    async fn revoke_grant(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        client: &ClientId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let args = || {
            vec![
                text(app.as_str()),
                text(tenant.as_str()),
                text(&user.to_string()),
                text(client.as_str()),
            ]
        };
        let held = "app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 AND client_id = ?4";
        let mut witness = audit_insert(audit, false);
        let base = witness.args.len();
        witness.sql = format!(
            "{} WHERE EXISTS (SELECT 1 FROM oauth_consents WHERE {c}) \
             OR EXISTS (SELECT 1 FROM sessions WHERE {c} AND revoked_at IS NULL)",
            witness.sql,
            c = held
                .replace("?1", &format!("?{}", base + 1))
                .replace("?2", &format!("?{}", base + 2))
                .replace("?3", &format!("?{}", base + 3))
                .replace("?4", &format!("?{}", base + 4)),
        );
        witness.args.extend(args());
        let audited = "EXISTS (SELECT 1 FROM audit_log WHERE id = ?6)";
        let with_audit = || {
            let mut values = args();
            values.push(time(now));
            values.push(text(&audit.id.to_string()));
            values
        };
        let results = self
            .batch(vec![
                witness,
                Statement::new(
                    format!("DELETE FROM oauth_consents WHERE {held} AND ?5 = ?5 AND {audited}"),
                    with_audit(),
                ),
                // A code issued before the revocation must not start a grant after it.
                Statement::new(
                    format!(
                        "DELETE FROM oauth_codes WHERE {held} AND used_at IS NULL \
                         AND ?5 = ?5 AND {audited}"
                    ),
                    with_audit(),
                ),
                Statement::new(
                    format!(
                        "UPDATE sessions SET revoked_at = ?5 WHERE {held} \
                         AND revoked_at IS NULL AND {audited}"
                    ),
                    with_audit(),
                ),
                Statement::new(
                    format!(
                        "INSERT INTO edge_sync (doc, version, synced_version, changed_at) \
                         SELECT 'flags:' || ?1 || ':' || ?2 || ':' || ?3, 1, 0, ?5 \
                         WHERE ?4 = ?4 AND {audited} \
                         ON CONFLICT (doc) DO UPDATE SET version = version + 1, \
                         changed_at = excluded.changed_at"
                    ),
                    with_audit(),
                ),
            ])
            .await?;
        first_changed(&results)
    }

    async fn prune_codes(&self, before: Timestamp, limit: usize) -> Result<usize, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "DELETE FROM oauth_codes WHERE code_hash IN \
                     (SELECT code_hash FROM oauth_codes WHERE expires_at < ?1 LIMIT ?2)",
                    vec![time(before), size(limit)],
                ),
                Statement::new(
                    "DELETE FROM oauth_assertions WHERE rowid IN \
                     (SELECT rowid FROM oauth_assertions WHERE expires_at < ?1 LIMIT ?2)",
                    vec![time(before), size(limit)],
                ),
            ])
            .await?;
        results.iter().map(SqlResult::changes).sum()
    }

    async fn use_assertion(
        &self,
        (app, tenant, client): (&AppId, &TenantId, &ClientId),
        used: &AssertionUse,
    ) -> Result<bool, Error> {
        let args = vec![
            text(app.as_str()),
            text(tenant.as_str()),
            text(client.as_str()),
            text(&used.jti_hash),
            time(used.remember_until),
            time(used.now),
            size(used.max_live),
        ];
        let results = self
            .batch(vec![
                Statement::new(
                    "INSERT INTO oauth_assertions (app_id, tenant_id, client_id, jti_hash, \
                     expires_at) SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM \
                     oauth_clients WHERE app_id = ?1 AND tenant_id = ?2 AND id = ?3) \
                     AND (SELECT COUNT(*) FROM oauth_assertions WHERE app_id = ?1 \
                     AND tenant_id = ?2 AND client_id = ?3 AND expires_at >= ?6) < ?7 \
                     ON CONFLICT DO NOTHING",
                    args.clone(),
                ),
                // Some of the client's expired ones go with every use (the cron takes the rest).
                Statement::new(
                    "DELETE FROM oauth_assertions WHERE rowid IN (SELECT rowid FROM \
                     oauth_assertions WHERE app_id = ?1 AND tenant_id = ?2 AND client_id = ?3 \
                     AND expires_at < ?6 LIMIT 16) AND ?4 = ?4 AND ?5 = ?5 AND ?7 = ?7",
                    args,
                ),
            ])
            .await?;
        first_changed(&results)
    }
}
