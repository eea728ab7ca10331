//! Email delivery, email challenges and end users' self-service (`EmailStore`): the app's
//! delivery setting, the outbox and dead letters, send counting in fixed windows, challenges
//! (stored by the hashes of their secrets) and the batches that consume one together with what
//! it proves, password changes, live sessions and leaving a tenant. Must not depend on
//! `service` or `http`.
//!
//! A challenge is consumed by a compare-and-swap (`consumed_at IS NULL AND expires_at > now`);
//! what it proves is written in the same batch only when that consume happened (`changes()`),
//! so a token works once however many requests race with it. Consumes are counted with
//! sign-in's `COUNT_ATTEMPT` (`throttle::count_subjects`) before anything else is done.

use super::audit::NEWEST;
use super::edge_sync::edge_bump;
use super::sessions::{refresh_token_insert, session_insert, SessionRow, SESSION_COLUMNS};
use super::throttle::{count_subjects, settle_subjects, OPERATOR_PLANE};
use super::users::user_inserts_after;
use super::{
    audit_insert, changed, corrupt, first_changed, int, opt_text, placeholders, rows, size, text,
    time, SqlBackend, SqlResult, SqlStore, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::challenge::{
    Challenge, Plane, Purpose, SendLimit, StoredChallenge, Subject, ADDRESS_SENDS, CLIENT_SENDS,
    MAX_WRONG_CODES,
};
use crate::domain::delivery::{DeadLetter, Delivery, DeliveryKind, Message};
use crate::domain::edge::{EdgeKey, MirroredDoc};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ChallengeId, MessageId, OperatorId, TenantId};
use crate::domain::links::WebUrl;
use crate::domain::password::PasswordHash;
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId};
use crate::domain::Error;
use crate::store::{ConsumeCount, Counted, EmailStore, SendCount, Settlement, SignUpOutcome};
use serde::Deserialize;

/// The `(app_id, tenant_id)` columns of a plane: `('', '')` for operators.
fn plane_keys(plane: &Plane) -> (&str, &str) {
    match plane {
        Plane::Tenant(app, tenant) => (app.as_str(), tenant.as_str()),
        Plane::Operators => (OPERATOR_PLANE, OPERATOR_PLANE),
    }
}

#[derive(Deserialize)]
struct DeliveryRow {
    kind: String,
    url: Option<String>,
    secret: Option<String>,
}

impl DeliveryRow {
    fn into_delivery(self) -> Result<Delivery, Error> {
        let bad = || corrupt("email_delivery");
        Ok(match DeliveryKind::parse(&self.kind).map_err(|_| bad())? {
            DeliveryKind::None => Delivery::None,
            DeliveryKind::Outbox => Delivery::Outbox,
            DeliveryKind::Webhook => Delivery::Webhook {
                url: self
                    .url
                    .as_deref()
                    .and_then(WebUrl::from_stored)
                    .ok_or_else(bad)?,
                sealed_secret: self.secret.ok_or_else(bad)?,
            },
        })
    }
}

const CHALLENGE_COLUMNS: &str = "id, app_id, tenant_id, purpose, email, subject_id, \
     token_hash, code_hash, tries, created_at, expires_at, consumed_at";

#[derive(Deserialize)]
struct ChallengeRow {
    id: String,
    app_id: String,
    tenant_id: String,
    purpose: String,
    email: String,
    subject_id: Option<String>,
    token_hash: String,
    code_hash: Option<String>,
    tries: i64,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
}

impl ChallengeRow {
    fn into_stored(self) -> Result<StoredChallenge, Error> {
        let bad = |_: Error| corrupt("email_challenges");
        let plane = if self.app_id == OPERATOR_PLANE {
            Plane::Operators
        } else {
            Plane::Tenant(
                AppId::parse(&self.app_id).map_err(bad)?,
                TenantId::parse(&self.tenant_id).map_err(bad)?,
            )
        };
        let subject = match (&plane, self.subject_id.as_deref()) {
            (_, None) => None,
            (Plane::Tenant(..), Some(id)) => Some(Subject::User(UserId::parse(id).map_err(bad)?)),
            (Plane::Operators, Some(id)) => {
                Some(Subject::Operator(OperatorId::parse(id).map_err(bad)?))
            }
        };
        Ok(StoredChallenge {
            challenge: Challenge {
                id: ChallengeId::parse(&self.id).map_err(bad)?,
                plane,
                purpose: Purpose::parse(&self.purpose).map_err(bad)?,
                email: Email::from_stored(&self.email).map_err(bad)?,
                token_hash: SecretHash::from_stored(self.token_hash),
                code_hash: self.code_hash.map(SecretHash::from_stored),
                created_at: Timestamp::from_unix_ms(self.created_at),
                expires_at: Timestamp::from_unix_ms(self.expires_at),
            },
            subject,
            tries: self.tries,
            consumed_at: self.consumed_at.map(Timestamp::from_unix_ms),
        })
    }
}

/// The first row of statement `index` of a batch, as a challenge.
fn challenge_at<R: SqlResult>(
    results: &[R],
    index: usize,
) -> Result<Option<StoredChallenge>, Error> {
    rows::<ChallengeRow, _>(results, index)?
        .into_iter()
        .next()
        .map(ChallengeRow::into_stored)
        .transpose()
}

const OUTBOX_COLUMNS: &str =
    "id, app_id, tenant_id, purpose, recipient, code, link, expires_at, created_at";

#[derive(Deserialize)]
struct OutboxRow {
    id: String,
    app_id: String,
    tenant_id: Option<String>,
    purpose: String,
    recipient: String,
    code: Option<String>,
    link: Option<String>,
    expires_at: i64,
    created_at: i64,
}

impl OutboxRow {
    fn into_message(self) -> Result<Message, Error> {
        let bad = |_: Error| corrupt("email_outbox");
        Ok(Message {
            id: MessageId::parse(&self.id).map_err(bad)?,
            purpose: Purpose::parse(&self.purpose).map_err(bad)?,
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(bad)?,
            to: Email::from_stored(&self.recipient).map_err(bad)?,
            code: self.code,
            link: self.link,
            expires_at: Timestamp::from_unix_ms(self.expires_at),
            created_at: Timestamp::from_unix_ms(self.created_at),
        })
    }
}

const DEAD_LETTER_COLUMNS: &str = "id, app_id, tenant_id, purpose, recipient, attempts, reason, at";

#[derive(Deserialize)]
struct DeadLetterRow {
    id: String,
    app_id: String,
    tenant_id: Option<String>,
    purpose: String,
    recipient: String,
    attempts: i64,
    reason: String,
    at: i64,
}

impl DeadLetterRow {
    fn into_letter(self) -> Result<DeadLetter, Error> {
        let bad = |_: Error| corrupt("email_dead_letters");
        Ok(DeadLetter {
            id: MessageId::parse(&self.id).map_err(bad)?,
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(bad)?,
            purpose: Purpose::parse(&self.purpose).map_err(bad)?,
            to: Email::from_stored(&self.recipient).map_err(bad)?,
            attempts: u32::try_from(self.attempts).map_err(|_| corrupt("email_dead_letters"))?,
            reason: self.reason,
            at: Timestamp::from_unix_ms(self.at),
        })
    }
}

/// Counts a send against `subject` unless its window is full (then no row comes back): a
/// window that ended starts again at this send.
const COUNT_SEND: &str = "INSERT INTO email_send_counts \
     (app_id, tenant_id, subject, sends, window_started_at) VALUES (?1, ?2, ?3, 1, ?4) \
     ON CONFLICT (app_id, tenant_id, subject) DO UPDATE SET \
     sends = CASE WHEN ?4 - window_started_at >= ?5 THEN 1 ELSE sends + 1 END, \
     window_started_at = CASE WHEN ?4 - window_started_at >= ?5 THEN ?4 \
       ELSE window_started_at END \
     WHERE ?4 - email_send_counts.window_started_at >= ?5 OR email_send_counts.sends < ?6 \
     RETURNING sends";

fn count_send_statement(
    app: &str,
    tenant: &str,
    subject: &str,
    limit: &SendLimit,
    now: Timestamp,
) -> Statement {
    Statement::new(
        COUNT_SEND,
        vec![
            text(app),
            text(tenant),
            text(subject),
            time(now),
            int(limit.window_ms),
            int(limit.sends),
        ],
    )
}

/// Consumes an open challenge at `now` (a compare-and-swap); the statements after it check
/// `changes()`.
fn consume(challenge: &ChallengeId, now: Timestamp) -> Statement {
    Statement::new(
        "UPDATE email_challenges SET consumed_at = ?2 \
         WHERE id = ?1 AND consumed_at IS NULL AND expires_at > ?2 AND tries <= ?3",
        vec![
            text(&challenge.to_string()),
            time(now),
            int(MAX_WRONG_CODES),
        ],
    )
}

/// The settlement statements of a success in a plane.
fn settle(plane: (&str, &str), settle: &Settlement) -> Vec<Statement> {
    settle_subjects(
        plane.0,
        plane.1,
        settle.clear.as_deref(),
        settle.give_back.as_deref(),
    )
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

fn session_ids(rows: Vec<IdRow>) -> Result<Vec<SessionId>, Error> {
    rows.iter()
        .map(|r| SessionId::parse(&r.id).map_err(|_| corrupt("sessions")))
        .collect()
}

/// Bumps the user's edge document when the statement before it changed a row (sessions
/// revoked, the face deleted), so the change is never without its pending KV rewrite.
fn user_edge_bump(app: &AppId, tenant: &TenantId, user: &UserId, now: Timestamp) -> Statement {
    let doc = MirroredDoc::User(EdgeKey {
        app: app.clone(),
        tenant: tenant.clone(),
        user: *user,
    });
    edge_bump(&doc, now, true)
}

impl<B: SqlBackend> EmailStore for SqlStore<B> {
    async fn find_email_delivery(&self, app: &AppId) -> Result<Delivery, Error> {
        self.first::<DeliveryRow>(Statement::new(
            "SELECT kind, url, secret FROM email_delivery WHERE app_id = ?1",
            vec![text(app.as_str())],
        ))
        .await?
        .map_or(Ok(Delivery::None), DeliveryRow::into_delivery)
    }

    async fn put_email_delivery(
        &self,
        app: &AppId,
        delivery: &Delivery,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let (url, secret) = match delivery {
            Delivery::Webhook { url, sealed_secret } => {
                (Some(url.as_str()), Some(sealed_secret.as_str()))
            }
            _ => (None, None),
        };
        let kind = delivery.kind().as_str();
        let results = self
            .batch(vec![
                Statement::new(
                    "INSERT INTO email_delivery (app_id, kind, url, secret, updated_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?1) \
                     ON CONFLICT (app_id) DO UPDATE SET kind = excluded.kind, url = excluded.url, \
                     secret = excluded.secret, updated_at = excluded.updated_at",
                    vec![
                        text(app.as_str()),
                        text(kind),
                        opt_text(url),
                        opt_text(secret),
                        time(now),
                    ],
                ),
                audit_insert(audit, true),
                // The outbox holds codes and links in the clear: it lives only while in use.
                Statement::new(
                    "DELETE FROM email_outbox WHERE app_id = ?1 AND ?2 != 'outbox'",
                    vec![text(app.as_str()), text(kind)],
                ),
            ])
            .await?;
        first_changed(&results)
    }

    async fn create_outbox_message(
        &self,
        message: &Message,
        prune_before: Timestamp,
    ) -> Result<(), Error> {
        let app = message.app_id.as_str();
        self.batch(vec![
            Statement::new(
                format!(
                    "INSERT OR IGNORE INTO email_outbox ({OUTBOX_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                vec![
                    text(&message.id.to_string()),
                    text(app),
                    opt_text(message.tenant_id.as_ref().map(TenantId::as_str)),
                    text(message.purpose.as_str()),
                    text(message.to.as_str()),
                    opt_text(message.code.as_deref()),
                    opt_text(message.link.as_deref()),
                    time(message.expires_at),
                    time(message.created_at),
                ],
            ),
            Statement::new(
                "DELETE FROM email_outbox WHERE app_id = ?1 AND created_at < ?2",
                vec![text(app), time(prune_before)],
            ),
        ])
        .await
        .map(drop)
    }

    async fn list_outbox(
        &self,
        app: &AppId,
        to: Option<&Email>,
        since: Timestamp,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, Error> {
        let before = before.unwrap_or(NEWEST);
        let statement = match to {
            Some(to) => Statement::new(
                format!(
                    "SELECT {OUTBOX_COLUMNS} FROM email_outbox WHERE app_id = ?1 \
                     AND recipient = ?2 AND id < ?3 AND created_at >= ?4 ORDER BY id DESC LIMIT ?5"
                ),
                vec![
                    text(app.as_str()),
                    text(to.as_str()),
                    text(before),
                    time(since),
                    size(limit),
                ],
            ),
            None => Statement::new(
                format!(
                    "SELECT {OUTBOX_COLUMNS} FROM email_outbox WHERE app_id = ?1 \
                     AND id < ?2 AND created_at >= ?3 ORDER BY id DESC LIMIT ?4"
                ),
                vec![text(app.as_str()), text(before), time(since), size(limit)],
            ),
        };
        self.all::<OutboxRow>(statement)
            .await?
            .into_iter()
            .map(OutboxRow::into_message)
            .collect()
    }

    async fn create_dead_letter(
        &self,
        letter: &DeadLetter,
        prune_before: Timestamp,
    ) -> Result<(), Error> {
        let app = letter.app_id.as_str();
        self.batch(vec![
            Statement::new(
                format!(
                    "INSERT OR IGNORE INTO email_dead_letters ({DEAD_LETTER_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                vec![
                    text(&letter.id.to_string()),
                    text(app),
                    opt_text(letter.tenant_id.as_ref().map(TenantId::as_str)),
                    text(letter.purpose.as_str()),
                    text(letter.to.as_str()),
                    int(i64::from(letter.attempts)),
                    text(&letter.reason),
                    time(letter.at),
                ],
            ),
            Statement::new(
                "DELETE FROM email_dead_letters WHERE app_id = ?1 AND at < ?2",
                vec![text(app), time(prune_before)],
            ),
        ])
        .await
        .map(drop)
    }

    async fn list_dead_letters(
        &self,
        app: &AppId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, Error> {
        self.all::<DeadLetterRow>(Statement::new(
            format!(
                "SELECT {DEAD_LETTER_COLUMNS} FROM email_dead_letters WHERE app_id = ?1 \
                 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ),
            vec![
                text(app.as_str()),
                text(before.unwrap_or(NEWEST)),
                size(limit),
            ],
        ))
        .await?
        .into_iter()
        .map(DeadLetterRow::into_letter)
        .collect()
    }

    async fn count_send(&self, plane: &Plane, count: &SendCount) -> Result<Option<i64>, Error> {
        let (app, tenant) = plane_keys(plane);
        let mut subjects = vec![(count.address.as_str(), ADDRESS_SENDS)];
        if let Some(client) = &count.client {
            subjects.push((client.as_str(), CLIENT_SENDS));
        }
        let mut statements: Vec<Statement> = subjects
            .iter()
            .map(|(subject, limit)| count_send_statement(app, tenant, subject, limit, count.now))
            .collect();
        let mut args = vec![text(app), text(tenant)];
        args.extend(subjects.iter().map(|(subject, _)| text(subject)));
        statements.push(Statement::new(
            format!(
                "SELECT subject, window_started_at FROM email_send_counts \
                 WHERE app_id = ?1 AND tenant_id = ?2 AND subject IN ({})",
                placeholders(3, args.len())
            ),
            args,
        ));
        let results = self.batch(statements).await?;
        #[derive(Deserialize)]
        struct Window {
            subject: String,
            window_started_at: i64,
        }
        let windows = rows::<Window, _>(&results, subjects.len())?;
        let mut wait: Option<i64> = None;
        for (index, (subject, limit)) in subjects.iter().enumerate() {
            if !rows::<serde_json::Value, _>(&results, index)?.is_empty() {
                continue;
            }
            // Not counted: its window is full until it ends.
            let started = windows
                .iter()
                .find(|w| w.subject == *subject)
                .map_or(count.now.unix_ms(), |w| w.window_started_at);
            let ends = Timestamp::from_unix_ms(started).plus_ms(limit.window_ms);
            let seconds = (ends.ms_since(count.now) + 999).div_euclid(1000).max(1);
            wait = Some(wait.map_or(seconds, |w| w.max(seconds)));
        }
        Ok(wait)
    }

    async fn create_challenge(&self, challenge: &Challenge) -> Result<Option<Subject>, Error> {
        let (app, tenant) = plane_keys(&challenge.plane);
        let subject = match challenge.plane {
            Plane::Tenant(..) => {
                "SELECT user_id FROM tenant_users WHERE app_id = ?2 AND tenant_id = ?3 AND email = ?5"
            }
            Plane::Operators => "SELECT id FROM operators WHERE email = ?5",
        };
        let results = self
            .batch(vec![Statement::new(
                format!(
                    "INSERT INTO email_challenges (id, app_id, tenant_id, purpose, email, \
                     subject_id, token_hash, code_hash, tries, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ({subject}), ?6, ?7, 0, ?8, ?9) \
                     RETURNING {CHALLENGE_COLUMNS}"
                ),
                vec![
                    text(&challenge.id.to_string()),
                    text(app),
                    text(tenant),
                    text(challenge.purpose.as_str()),
                    text(challenge.email.as_str()),
                    text(challenge.token_hash.as_str()),
                    opt_text(challenge.code_hash.as_ref().map(SecretHash::as_str)),
                    time(challenge.created_at),
                    time(challenge.expires_at),
                ],
            )])
            .await?;
        Ok(challenge_at(&results, 0)?.and_then(|stored| stored.subject))
    }

    async fn find_challenge(
        &self,
        plane: &Plane,
        id: &ChallengeId,
    ) -> Result<Option<StoredChallenge>, Error> {
        let (app, tenant) = plane_keys(plane);
        self.first::<ChallengeRow>(Statement::new(
            format!(
                "SELECT {CHALLENGE_COLUMNS} FROM email_challenges \
                 WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3"
            ),
            vec![text(&id.to_string()), text(app), text(tenant)],
        ))
        .await?
        .map(ChallengeRow::into_stored)
        .transpose()
    }

    async fn begin_code_try(
        &self,
        plane: &Plane,
        id: &ChallengeId,
        count: &ConsumeCount,
    ) -> Result<Counted<StoredChallenge>, Error> {
        let (app, tenant) = plane_keys(plane);
        // The try is counted on the attempt first, and only while it is open.
        let lookup = Statement::new(
            format!(
                "UPDATE email_challenges SET tries = tries + 1 \
                 WHERE id = ?1 AND app_id = ?2 AND tenant_id = ?3 AND code_hash IS NOT NULL \
                 AND consumed_at IS NULL AND expires_at > ?4 AND tries < ?5 \
                 RETURNING {CHALLENGE_COLUMNS}"
            ),
            vec![
                text(&id.to_string()),
                text(app),
                text(tenant),
                time(count.now),
                int(MAX_WRONG_CODES),
            ],
        );
        let subjects = count.subjects();
        let (results, retry_after) =
            count_subjects(self, app, tenant, lookup, &subjects, count.now).await?;
        Ok(Counted {
            found: challenge_at(&results, 0)?,
            retry_after,
        })
    }

    async fn begin_link_try(
        &self,
        plane: &Plane,
        purpose: Purpose,
        token: &SecretHash,
        count: &ConsumeCount,
    ) -> Result<Counted<StoredChallenge>, Error> {
        let (app, tenant) = plane_keys(plane);
        let lookup = Statement::new(
            format!(
                "SELECT {CHALLENGE_COLUMNS} FROM email_challenges \
                 WHERE token_hash = ?1 AND app_id = ?2 AND tenant_id = ?3 AND purpose = ?4 \
                 AND consumed_at IS NULL AND expires_at > ?5 AND tries < ?6"
            ),
            vec![
                text(token.as_str()),
                text(app),
                text(tenant),
                text(purpose.as_str()),
                time(count.now),
                int(MAX_WRONG_CODES),
            ],
        );
        let subjects = count.subjects();
        let (results, retry_after) =
            count_subjects(self, app, tenant, lookup, &subjects, count.now).await?;
        Ok(Counted {
            found: challenge_at(&results, 0)?,
            retry_after,
        })
    }

    async fn verify_email(
        &self,
        challenge: &ChallengeId,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        let (app, tenant) = tenant;
        let mut statements = vec![
            consume(challenge, now),
            Statement::new(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?3) \
                 WHERE app_id = ?1 AND id = ?2 \
                 AND email = (SELECT email FROM email_challenges WHERE id = ?4) \
                 AND (SELECT changes()) > 0",
                vec![
                    text(app.as_str()),
                    text(&user.to_string()),
                    time(now),
                    text(&challenge.to_string()),
                ],
            ),
        ];
        statements.extend(settle((app.as_str(), tenant.as_str()), settlement));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn reset_user_password(
        &self,
        challenge: &ChallengeId,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        hash: &PasswordHash,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        let (app, tenant) = tenant;
        let mut statements = vec![
            consume(challenge, now),
            Statement::new(
                "UPDATE users SET password_hash = ?3, password_params = ?5, \
                 email_verified_at = COALESCE(email_verified_at, ?4) \
                 WHERE app_id = ?1 AND id = ?2 AND (SELECT changes()) > 0",
                vec![
                    text(app.as_str()),
                    text(&user.to_string()),
                    text(&hash.to_phc_string()),
                    time(now),
                    text(&hash.params().to_phc_prefix()),
                ],
            ),
            Statement::new(
                "UPDATE sessions SET revoked_at = ?4 WHERE app_id = ?1 AND tenant_id = ?2 \
                 AND user_id = ?3 AND revoked_at IS NULL AND (SELECT changes()) > 0 RETURNING id",
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(&user.to_string()),
                    time(now),
                ],
            ),
            user_edge_bump(app, tenant, user, now),
        ];
        statements.extend(settle((app.as_str(), tenant.as_str()), settlement));
        let results = self.batch(statements).await?;
        if !first_changed(&results)? {
            return Ok(None);
        }
        session_ids(rows(&results, 2)?).map(Some)
    }

    async fn reset_operator_password(
        &self,
        challenge: &ChallengeId,
        operator: &OperatorId,
        hash: &PasswordHash,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        let mut statements = vec![
            consume(challenge, now),
            Statement::new(
                "UPDATE operators SET password_hash = ?2, password_reset_at = ?3, \
                 password_params = ?4 WHERE id = ?1 AND (SELECT changes()) > 0",
                vec![
                    text(&operator.to_string()),
                    text(&hash.to_phc_string()),
                    time(now),
                    text(&hash.params().to_phc_prefix()),
                ],
            ),
        ];
        statements.extend(settle((OPERATOR_PLANE, OPERATOR_PLANE), settlement));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn verify_operator_email(
        &self,
        challenge: &ChallengeId,
        operator: &OperatorId,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<Option<Vec<AppId>>, Error> {
        let mut statements = vec![
            consume(challenge, now),
            Statement::new(
                "UPDATE operators SET email_verified_at = COALESCE(email_verified_at, ?2) \
                 WHERE id = ?1 AND email = (SELECT email FROM email_challenges WHERE id = ?3) \
                 AND (SELECT changes()) > 0",
                vec![
                    text(&operator.to_string()),
                    time(now),
                    text(&challenge.to_string()),
                ],
            ),
            // The apps it signed up for, usable from now on — only once the email is proved.
            Statement::new(
                "UPDATE apps SET pending_verification = 0 WHERE pending_verification = 1 \
                 AND id IN (SELECT app_id FROM members WHERE operator_id = ?1 \
                 AND source = 'signup' AND status != 'left') \
                 AND EXISTS (SELECT 1 FROM operators WHERE id = ?1 \
                 AND email_verified_at IS NOT NULL) RETURNING id",
                vec![text(&operator.to_string())],
            ),
        ];
        statements.extend(settle((OPERATOR_PLANE, OPERATOR_PLANE), settlement));
        let results = self.batch(statements).await?;
        if !first_changed(&results)? {
            return Ok(None);
        }
        rows::<IdRow, _>(&results, 2)?
            .iter()
            .map(|r| AppId::parse(&r.id).map_err(|_| corrupt("apps")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    async fn passwordless_sign_in(
        &self,
        challenge: &ChallengeId,
        session: &Session,
        token: &SecretHash,
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        let now = session.created_at;
        let mut statements = vec![
            consume(challenge, now),
            Statement::new(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?3), \
                 passwordless_at = COALESCE(passwordless_at, ?3) \
                 WHERE app_id = ?1 AND id = ?2 AND (SELECT changes()) > 0",
                vec![
                    text(session.app_id.as_str()),
                    text(&session.user_id.to_string()),
                    time(now),
                ],
            ),
            session_insert(session, true),
            refresh_token_insert(session, token, true),
        ];
        statements.extend(settle(
            (session.app_id.as_str(), session.tenant_id.as_str()),
            settlement,
        ));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn passwordless_sign_up(
        &self,
        challenge: &ChallengeId,
        user: &User,
        face: &TenantUser,
        session: (&Session, &SecretHash),
        settlement: &Settlement,
    ) -> Result<SignUpOutcome, Error> {
        let (session, token) = session;
        let mut statements = vec![consume(challenge, session.created_at)];
        // The user only after the consume and while the tenant lacks the email; its face, the
        // session and its token each only after the statement before.
        statements.extend(user_inserts_after(user, face, true));
        statements.push(session_insert(session, true));
        statements.push(refresh_token_insert(session, token, true));
        statements.extend(settle(
            (face.app_id.as_str(), face.tenant_id.as_str()),
            settlement,
        ));
        let results = self.batch(statements).await?;
        Ok(SignUpOutcome::of(
            first_changed(&results)?,
            changed(&results, 1)?,
        ))
    }

    async fn change_password(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        hash: &PasswordHash,
        keep: &SessionId,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<Vec<SessionId>, Error> {
        let (app, tenant) = tenant;
        let mut statements = vec![
            Statement::new(
                "UPDATE users SET password_hash = ?3, password_params = ?4 \
                 WHERE app_id = ?1 AND id = ?2",
                vec![
                    text(app.as_str()),
                    text(&user.to_string()),
                    text(&hash.to_phc_string()),
                    text(&hash.params().to_phc_prefix()),
                ],
            ),
            Statement::new(
                "UPDATE sessions SET revoked_at = ?5 WHERE app_id = ?1 AND tenant_id = ?2 \
                 AND user_id = ?3 AND id != ?4 AND revoked_at IS NULL RETURNING id",
                vec![
                    text(app.as_str()),
                    text(tenant.as_str()),
                    text(&user.to_string()),
                    text(&keep.to_string()),
                    time(now),
                ],
            ),
            user_edge_bump(app, tenant, user, now),
        ];
        statements.extend(settle((app.as_str(), tenant.as_str()), settlement));
        let results = self.batch(statements).await?;
        session_ids(rows(&results, 1)?)
    }

    async fn list_live_sessions(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        now: Timestamp,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Session>, Error> {
        let (app, tenant) = tenant;
        self.all::<SessionRow>(Statement::new(
            format!(
                "SELECT {SESSION_COLUMNS} FROM sessions s \
                 WHERE s.app_id = ?1 AND s.tenant_id = ?2 AND s.user_id = ?3 \
                 AND s.revoked_at IS NULL AND s.expires_at > ?4 \
                 AND s.last_used_at + s.idle_timeout_ms > ?4 AND s.id < ?5 \
                 ORDER BY s.id DESC LIMIT ?6"
            ),
            vec![
                text(app.as_str()),
                text(tenant.as_str()),
                text(&user.to_string()),
                time(now),
                text(before.unwrap_or(NEWEST)),
                size(limit),
            ],
        ))
        .await?
        .into_iter()
        .map(SessionRow::into_session)
        .collect()
    }

    async fn prune_email(
        &self,
        now: Timestamp,
        outbox_before: Timestamp,
        dead_before: Timestamp,
    ) -> Result<(), Error> {
        let window = ADDRESS_SENDS.window_ms.max(CLIENT_SENDS.window_ms);
        self.batch(vec![
            Statement::new(
                "DELETE FROM email_challenges WHERE expires_at <= ?1",
                vec![time(now)],
            ),
            Statement::new(
                "DELETE FROM email_send_counts WHERE window_started_at <= ?1",
                vec![time(now.plus_ms(-window))],
            ),
            Statement::new(
                "DELETE FROM email_outbox WHERE created_at < ?1",
                vec![time(outbox_before)],
            ),
            Statement::new(
                "DELETE FROM email_dead_letters WHERE at < ?1",
                vec![time(dead_before)],
            ),
        ])
        .await
        .map(drop)
    }
}
