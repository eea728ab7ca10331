//! Values the scenarios write: every id, time and secret is made from small numbers, so each
//! scenario is deterministic and reads the same on every adapter.

use tessera::domain::audit::{Actor, AuditAction, AuditEntry};
use tessera::domain::authz::Scope;
use tessera::domain::challenge::{Challenge, Plane, Purpose};
use tessera::domain::delivery::{DeadLetter, Message};
use tessera::domain::email::Email;
use tessera::domain::ids::{
    ApiKeyId, AppId, AuditId, ChallengeId, MessageId, OperatorId, TenantId,
};
use tessera::domain::keys::KeyOwner;
use tessera::domain::member::{
    Member, MemberId, MemberStatus, MembershipSource, MembershipType, OperatorRole,
};
use tessera::domain::operator::Operator;
use tessera::domain::password::{PasswordHash, PasswordPolicy};
use tessera::domain::secret::{PlainSecret, SecretHash, SecretKind};
use tessera::domain::session::{Session, SessionId};
use tessera::domain::tenancy::{ApiKey, ApiKeyName, App, AppSettings, Tenant};
use tessera::domain::time::Timestamp;
use tessera::domain::user::{TenantUser, User, UserId};
use tessera::store::{Attempt, StoredSigningKey};

/// A moment well after the epoch, so that "long ago" (the epoch) is clearly before it.
pub const T0: i64 = 1_700_000_000_000;

/// `T0 + ms`.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0 + ms)
}

pub fn app(id: &str) -> AppId {
    AppId::parse(id).expect("a valid app id")
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("a valid tenant id")
}

pub fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid email")
}

/// Ten bytes from a number, for ids.
pub fn random(n: u32) -> [u8; 10] {
    let b = n.to_be_bytes();
    [b[0], b[1], b[2], b[3], 7, 7, 7, 7, 7, 7]
}

/// An audit entry numbered `n`: ids (UUIDv7) sort by `n`.
pub fn entry(
    n: u32,
    app_id: &AppId,
    action: AuditAction,
    tenant_id: Option<&TenantId>,
) -> AuditEntry {
    let when = at(i64::from(n));
    AuditEntry {
        id: AuditId::generate(when, random(n)),
        app_id: app_id.clone(),
        at: when,
        actor: Actor::Operator("op-1".into()),
        action,
        target: format!("target-{n}"),
        tenant_id: tenant_id.cloned(),
        detail: serde_json::json!({ "n": n, "nested": { "list": [1, 2.5, "three"] } }),
    }
}

/// An app created at `at(0)` with its public tenant.
pub fn new_app(id: &str) -> (App, Tenant) {
    let a = App {
        id: app(id),
        settings: AppSettings::default(),
        created_at: at(0),
        pending_verification: false,
    };
    let public = Tenant::public_of(&a.id, at(0));
    (a, public)
}

/// A tenant `id` of `app_id` created at `at(0)`.
pub fn new_tenant(app_id: &AppId, id: &str) -> Tenant {
    let mut t = Tenant::public_of(app_id, at(0));
    t.id = tenant(id);
    t
}

/// A weak but valid password hash; `n` tells two apart.
pub fn password_hash(n: u32) -> PasswordHash {
    PasswordPolicy::insecure_for_tests(n).dummy_hash()
}

/// User number `n` of an app with its face in `tenant_id`, created at `at(0)`.
pub fn user(app_id: &AppId, tenant_id: &TenantId, address: &str, n: u32) -> (User, TenantUser) {
    let u = User {
        app_id: app_id.clone(),
        id: UserId::generate(at(i64::from(n)), random(n)),
        email: email(address),
        password_hash: Some(password_hash(1)),
        email_verified: false,
        passwordless: false,
        created_at: at(0),
    };
    let face = TenantUser::new(&u, tenant_id, at(0));
    (u, face)
}

/// Session number `n` of a face, created at `at(0)`, generation 0, live for a day.
pub fn session(face: &TenantUser, n: u32) -> Session {
    Session {
        id: SessionId::generate(at(i64::from(n)), random(n)),
        app_id: face.app_id.clone(),
        tenant_id: face.tenant_id.clone(),
        user_id: face.user_id,
        generation: 0,
        rotated_at: at(0),
        created_at: at(0),
        last_used_at: at(0),
        expires_at: at(86_400_000),
        idle_timeout_ms: 3_600_000,
        revoked_at: None,
        grant: None,
    }
}

/// The hash of secret number `n` of a kind.
pub fn secret(kind: SecretKind, n: u8) -> SecretHash {
    PlainSecret::generate(kind, [n; 32]).hash()
}

/// The hash of refresh token number `n`.
pub fn token(n: u8) -> SecretHash {
    secret(SecretKind::RefreshToken, n)
}

/// Operator number `n`.
pub fn operator(address: &str, n: u32) -> Operator {
    Operator {
        id: OperatorId::generate(at(i64::from(n)), random(n)),
        email: email(address),
        password_hash: Some(password_hash(1)),
        is_platform_owner: false,
        created_at: at(0),
        password_reset_at: None,
        email_verified_at: None,
    }
}

/// The owner membership of the app `public` that bootstrapping `operator` makes.
pub fn bootstrap_membership(operator: &Operator) -> Member {
    Member {
        // Its id is the operator's: one bootstrap membership per operator.
        id: MemberId::parse(&operator.id.to_string()).unwrap(),
        app_id: app("public"),
        operator_id: Some(operator.id),
        email: operator.email.clone(),
        tenant_id: None,
        membership_type: MembershipType::Owner,
        roles: vec![OperatorRole::Admin],
        status: MemberStatus::Active,
        source: MembershipSource::Bootstrap,
        invite_expires_at: None,
        created_at: operator.created_at,
        updated_at: operator.created_at,
    }
}

/// Membership number `n` of `address` in an app: invited at `at(0)` until `expires`.
pub fn invitation(app_id: &AppId, address: &str, n: u32, expires: Timestamp) -> Member {
    Member {
        id: MemberId::generate(at(i64::from(n)), random(n)),
        app_id: app_id.clone(),
        operator_id: None,
        email: email(address),
        tenant_id: None,
        membership_type: MembershipType::Member,
        roles: vec![OperatorRole::Admin],
        status: MemberStatus::Invited,
        source: MembershipSource::Invite,
        invite_expires_at: Some(expires),
        created_at: at(0),
        updated_at: at(0),
    }
}

/// API key number `n` of a tenant.
pub fn api_key(app_id: &AppId, tenant_id: &TenantId, n: u32) -> (ApiKey, SecretHash) {
    let key = ApiKey {
        id: ApiKeyId::generate(at(i64::from(n)), random(n)),
        app_id: app_id.clone(),
        tenant_id: tenant_id.clone(),
        name: ApiKeyName::parse(&format!("key {n}")).expect("a valid name"),
        scopes: vec![Scope::Introspect],
        created_at: at(0),
    };
    let hash = secret(SecretKind::ApiKey, u8::try_from(n).unwrap_or(u8::MAX));
    (key, hash)
}

/// A signing key of `owner` activating at `at(activates)`.
pub fn signing_key(owner: &KeyOwner, kid: &str, activates: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        owner: owner.clone(),
        public_key: format!("public-{kid}"),
        sealed_private_key: format!("sealed-{kid}"),
        created_at: at(activates - 1_000),
        activates_at: at(activates),
    }
}

/// A sign-in attempt.
pub fn attempt(account: &str, client: Option<&str>, now: Timestamp) -> Attempt {
    Attempt {
        account: account.to_owned(),
        client: client.map(str::to_owned),
        now,
    }
}

/// Challenge number `n` of `purpose` for `address` in `plane`, made at `at(made)`, with a code
/// hash when `with_code`.
pub fn challenge(
    plane: &Plane,
    purpose: Purpose,
    address: &str,
    n: u8,
    made: i64,
    with_code: bool,
) -> Challenge {
    Challenge::new(
        ChallengeId::generate(at(made), random(u32::from(n))),
        plane.clone(),
        purpose,
        email(address),
        secret(SecretKind::LinkToken, n),
        with_code.then(|| SecretHash::from_stored(format!("code-hash-{n}"))),
        at(made),
    )
}

/// Message number `n` to `to`, of a tenant of an app (or of operators), made at `at(made)`.
pub fn message(
    app_id: &AppId,
    tenant_id: Option<&TenantId>,
    to: &str,
    n: u32,
    made: i64,
) -> Message {
    Message {
        id: MessageId::generate(at(made), random(n)),
        purpose: Purpose::Passwordless,
        app_id: app_id.clone(),
        tenant_id: tenant_id.cloned(),
        to: email(to),
        code: Some(format!("{:06}", n)),
        link: Some(format!(
            "https://app.example/auth?type=passwordless&token=tsl_{n}"
        )),
        expires_at: at(made + 900_000),
        created_at: at(made),
    }
}

/// The dead letter of message number `n`, given up at `at(made)`.
pub fn dead_letter(
    app_id: &AppId,
    tenant_id: Option<&TenantId>,
    to: &str,
    n: u32,
    made: i64,
) -> DeadLetter {
    DeadLetter::of(
        &message(app_id, tenant_id, to, n, made),
        3,
        "the mailer answered 503",
        at(made),
    )
}
