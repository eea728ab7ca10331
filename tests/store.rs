//! The port contract on the memory adapters (`MemoryStore`, and `KvEdge` over `MemoryKv`), and
//! what only the memory store promises: a call made to fail by its fault rules, or refused by
//! a constraint, returns an error and changes nothing.

mod contract;

use contract::fixtures::*;
use futures_executor::block_on;
use tessera::domain::audit::AuditAction;
use tessera::domain::authz::Permission;
use tessera::domain::challenge::{Challenge, Plane, Purpose};
use tessera::domain::deletion::{Deletion, Target};
use tessera::domain::delivery::Delivery;
use tessera::domain::ids::DeletionId;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::keys::KeyOwner;
use tessera::domain::member::MemberStatus;
use tessera::domain::member::{CustomRole, MembershipSource};
use tessera::domain::names::OperatorRoleName;
use tessera::domain::names::{PlanTier, RoleName};
use tessera::domain::policy::Plan;
use tessera::domain::secret::SecretKind;
use tessera::domain::tenancy::AppSettings;
use tessera::domain::Error;
use tessera::store::kv::KvEdge;
use tessera::store::memory::{MemoryKv, MemoryStore, RowCounts};
use tessera::store::{
    ApiKeyStore, AuditStore, ConsumeCount, DeletionStore, EdgeSyncStore, EmailStore,
    MaintenanceStore, MemberStore, OperatorStore, SendCount, SessionStore, Settlement,
    SigningKeyStore, TenancyStore, UserFilter, UserStateStore, UserStore,
};

contract::contract_suite!(memory, tessera::store::memory::MemoryStore::seeded);

/// The edge view over a fresh memory KV namespace.
fn memory_edge() -> KvEdge<MemoryKv> {
    KvEdge::new(MemoryKv::default())
}

contract::edge_suite!(memory_kv, crate::memory_edge);

/// Every method of every relational port, as the fault rules name it (`db <method>`).
const EVERY_METHOD: [&str; 150] = [
    "clear_operator_failures",
    "prune_signin_failures",
    "prune_sessions",
    "prune_webhook_events",
    "prune_audit",
    "find_app",
    "list_apps",
    "create_app",
    "update_app_settings",
    "find_tenant",
    "list_tenants",
    "create_tenant",
    "update_tenant",
    "create_platform_owner",
    "find_operator",
    "find_operator_by_email",
    "begin_operator_signin",
    "finish_operator_signin",
    "update_operator_password",
    "find_operator_password_params",
    "create_api_key",
    "list_api_keys",
    "delete_api_key",
    "find_api_key_by_hash",
    "find_api_key_hash",
    "find_signing_keys",
    "create_signing_key",
    "create_user",
    "begin_signin",
    "count_signup",
    "settle_signin",
    "find_tenant_user",
    "update_user_password",
    "find_password_params",
    "create_session",
    "find_by_refresh_token",
    "rotate_session",
    "rotate_presented",
    "find_session",
    "revoke_session",
    "find_session_user",
    "lease_user_edge",
    "lease_policy_edge",
    "lease_keys_edge",
    "release_edge",
    "find_stale_edges",
    "mark_edge_changed",
    "create_member",
    "find_invite",
    "accept_invite",
    "find_member",
    "list_members",
    "update_member",
    "find_grants",
    "list_audit",
    "find_policy",
    "put_role",
    "put_plan",
    "list_tenant_users",
    "find_user",
    "update_face",
    "associate",
    "create_user_only",
    "revoke_user_sessions",
    "find_metadata",
    "put_metadata",
    "find_webhook_secret",
    "put_webhook_secret",
    "has_event",
    "apply_plan_event",
    "find_tenant_user_by_email",
    "find_email_delivery",
    "put_email_delivery",
    "create_outbox_message",
    "list_outbox",
    "create_dead_letter",
    "list_dead_letters",
    "count_send",
    "create_challenge",
    "find_challenge",
    "begin_code_try",
    "begin_link_try",
    "verify_email",
    "reset_user_password",
    "reset_operator_password",
    "passwordless_sign_in",
    "passwordless_sign_up",
    "change_password",
    "list_live_sessions",
    "prune_email",
    "count_operator_signup",
    "sign_up_operator",
    "find_operator_roles",
    "put_operator_role",
    "delete_operator_role",
    "verify_operator_email",
    "find_provider",
    "list_providers",
    "put_provider",
    "delete_provider",
    "begin_flow_step",
    "create_flow",
    "take_flow",
    "find_identity",
    "thirdparty_sign_in",
    "thirdparty_sign_up",
    "link_identity",
    "prune_flows",
    "begin_deletion",
    "find_deletion",
    "find_running_deletion",
    "list_due_deletions",
    "update_deletion",
    "prune_deletions",
    "purge_api_keys",
    "find_edge_docs",
    "forget_edge_docs",
    "purge_sessions",
    "find_client_secrets",
    "forget_client_secrets",
    "purge_thirdparty",
    "find_faces",
    "purge_users",
    "purge_email",
    "purge_signin_failures",
    "purge_members",
    "purge_catalogue",
    "purge_billing",
    "purge_audit",
    "purge_signing_keys",
    "purge_tenants",
    "delete_target_row",
    "find_oauth_settings",
    "put_oauth_settings",
    "create_client",
    "find_client",
    "list_clients",
    "update_client",
    "rotate_client_secret",
    "revoke_client_tokens",
    "create_code",
    "find_code",
    "redeem_code",
    "put_consent",
    "find_consent",
    "list_consents",
    "revoke_grant",
    "prune_codes",
    "use_assertion",
    "delete_client",
];

/// The challenges `populated` writes into `acme`, and the operators' ones.
struct Proofs {
    reset: Challenge,
    code: Challenge,
    verify: Challenge,
    sign_up: Challenge,
    operator: Challenge,
    operator_verify: Challenge,
}

fn proofs(shop: &AppId, acme: &TenantId, address: &str) -> Proofs {
    let plane = Plane::Tenant(shop.clone(), acme.clone());
    Proofs {
        reset: challenge(&plane, Purpose::PasswordReset, address, 210, 0, false),
        code: challenge(&plane, Purpose::Passwordless, address, 211, 0, true),
        verify: challenge(&plane, Purpose::EmailVerification, address, 212, 0, false),
        sign_up: challenge(
            &plane,
            Purpose::Passwordless,
            "fresh@example.com",
            213,
            0,
            true,
        ),
        operator: challenge(
            &Plane::Operators,
            Purpose::OperatorPasswordReset,
            "owner@example.com",
            214,
            0,
            false,
        ),
        operator_verify: challenge(
            &Plane::Operators,
            Purpose::OperatorEmailVerification,
            "owner@example.com",
            220,
            0,
            false,
        ),
    }
}

/// A store with something in every table the calls below touch.
fn populated() -> (MemoryStore, contract::steps::Populated) {
    let db = MemoryStore::seeded();
    let populated = block_on(async {
        let shop = contract::steps::create_app(&db, "shop", 1).await;
        let p = contract::steps::populate(&db, &shop, "acme", 10).await;
        let proofs = proofs(&shop, &p.tenant, &p.address);
        for c in [
            &proofs.reset,
            &proofs.code,
            &proofs.verify,
            &proofs.sign_up,
            &proofs.operator,
            &proofs.operator_verify,
        ] {
            db.create_challenge(c).await.unwrap();
        }
        p
    });
    (db, populated)
}

/// Calls every method once, with arguments under which it would change something, and
/// checks after each call that failed that the state is as it was before it. Returns each
/// method's name and outcome, in call order.
async fn call_every_method(
    db: &MemoryStore,
    p: &contract::steps::Populated,
) -> Vec<(&'static str, Result<(), Error>)> {
    let mut outcomes: Vec<(&'static str, Result<(), Error>)> = Vec::new();
    macro_rules! call {
        ($name:literal, $call:expr) => {{
            let before = db.snapshot();
            let outcome = $call.await.map(drop);
            if outcome.is_err() {
                assert_eq!(
                    db.snapshot(),
                    before,
                    "{} failed but changed the state",
                    $name
                );
            }
            outcomes.push(($name, outcome));
        }};
    }
    let shop = app("shop");
    let acme = p.tenant.clone();
    let (new_shop, new_public) = new_app("new-shop");
    let e = |n: u32| entry(n, &shop, AuditAction::TenantUpdate, Some(&acme));
    let (u, face) = user(&shop, &acme, "new@example.com", 200);
    let s = session(&face, 200);
    let ann = attempt(
        &format!("account:{}", p.address),
        Some("client:203.0.113.1"),
        at(5),
    );
    let mut owner = operator("owner@example.com", 201);
    owner.is_platform_owner = true;
    let (key, key_hash) = api_key(&shop, &acme, 202);
    let invite = secret(SecretKind::InviteToken, 203);
    let member = invitation(&shop, "member@example.com", 203, at(1_000_000));
    // The face `populate` wrote (user number 10), moved to another plan.
    let mut existing_face = user(&shop, &acme, &p.address, 10).1;
    existing_face.plan_tier = PlanTier::parse("pro").unwrap();

    // The OAuth server.
    {
        use contract::oauth::{
            client as oauth_client, code as oauth_code, consent, consent_audit, held,
        };
        use tessera::domain::oauth::OAuthSettings;
        use tessera::store::OAuthStore;
        let (_, face) = user(&shop, &acme, &p.address, 10);
        assert_eq!(face.user_id, p.user, "the populated user");
        let c = oauth_client(&shop, &acme, 40);
        call!("find_oauth_settings", db.find_oauth_settings(&shop, &acme));
        call!(
            "put_oauth_settings",
            db.put_oauth_settings(&shop, &acme, &OAuthSettings::default(), &e(400))
        );
        call!("create_client", db.create_client(&c, &e(401)));
        call!("find_client", db.find_client(&shop, &acme, &c.id));
        call!("list_clients", db.list_clients(&shop, &acme, None, 10));
        let renamed = tessera::domain::oauth::Client {
            name: "Renamed".to_owned(),
            ..c.clone()
        };
        call!(
            "update_client",
            db.update_client(&renamed, false, at(20), &e(402))
        );
        let rotated = tessera::domain::oauth::Client {
            secret_hash: Some(secret(SecretKind::ClientSecret, 44)),
            version: 1,
            ..renamed.clone()
        };
        call!(
            "rotate_client_secret",
            db.rotate_client_secret(&rotated, &e(405))
        );
        call!(
            "revoke_client_tokens",
            db.revoke_client_tokens(&shop, &acme, &c.id, at(21))
        );
        let code = oauth_code(&face, &c, 41, 1_000_000);
        call!("create_code", db.create_code(&code));
        call!("find_code", db.find_code(&code.hash));
        call!(
            "redeem_code",
            db.redeem_code(&code.hash, &held(&face, 400, Some(&c)), &token(140), at(22))
        );
        let given = consent(&face, &c, &["mcp:tools"], "fp");
        call!(
            "put_consent",
            db.put_consent(&given, &consent_audit(&given))
        );
        call!(
            "find_consent",
            db.find_consent(&shop, &acme, &face.user_id, &c.id)
        );
        call!(
            "list_consents",
            db.list_consents(&shop, &acme, &face.user_id)
        );
        call!(
            "revoke_grant",
            db.revoke_grant(&shop, &acme, &face.user_id, &c.id, at(23), &e(403))
        );
        call!("prune_codes", db.prune_codes(at(2_000_000), 10));
        call!(
            "use_assertion",
            db.use_assertion(
                (&shop, &acme, &c.id),
                &tessera::store::AssertionUse {
                    jti_hash: "jti-hash".to_owned(),
                    remember_until: at(2_000_000),
                    now: at(2_000),
                    max_live: 10,
                }
            )
        );
        call!(
            "delete_client",
            db.delete_client(&shop, &acme, &c.id, at(24), &e(404))
        );
    }
    call!("find_app", db.find_app(&shop));
    call!("list_apps", db.list_apps(None, 10));
    call!("create_app", db.create_app(&new_shop, &new_public, &e(100)));
    call!(
        "update_app_settings",
        db.update_app_settings(&shop, &AppSettings::default(), &e(101))
    );
    call!("find_tenant", db.find_tenant(&shop, &acme));
    call!("list_tenants", db.list_tenants(&shop, None, 10));
    call!(
        "create_tenant",
        db.create_tenant(&new_tenant(&shop, "bravo"), &e(102))
    );
    call!(
        "update_tenant",
        db.update_tenant(&new_tenant(&shop, "acme"), &e(103))
    );
    call!(
        "create_platform_owner",
        db.create_platform_owner(&owner, &bootstrap_membership(&owner))
    );
    call!("find_operator", db.find_operator(&owner.id));
    call!(
        "find_operator_by_email",
        db.find_operator_by_email(&owner.email)
    );
    call!(
        "begin_operator_signin",
        db.begin_operator_signin(&owner.email, &ann)
    );
    call!("finish_operator_signin", db.finish_operator_signin(&ann));
    call!(
        "update_operator_password",
        db.update_operator_password(&owner.id, &password_hash(3))
    );
    call!(
        "find_operator_password_params",
        db.find_operator_password_params()
    );
    call!(
        "clear_operator_failures",
        db.clear_operator_failures(&owner.email)
    );
    call!(
        "create_api_key",
        db.create_api_key(&key, &key_hash, &e(104))
    );
    call!("list_api_keys", db.list_api_keys(&shop, &acme, None, 10));
    call!(
        "delete_api_key",
        db.delete_api_key(&shop, &acme, &p.key, Some(&e(105)))
    );
    call!("find_api_key_by_hash", db.find_api_key_by_hash(&key_hash));
    call!(
        "find_api_key_hash",
        db.find_api_key_hash(&shop, &acme, &key.id)
    );
    call!(
        "create_signing_key",
        db.create_signing_key(&signing_key(&KeyOwner::Operators, "k1", 5), Some(&e(106)))
    );
    call!(
        "find_signing_keys",
        db.find_signing_keys(&KeyOwner::Operators)
    );
    call!("create_user", db.create_user(&u, &face, &s, &token(200)));
    call!(
        "begin_signin",
        db.begin_signin(&shop, &acme, &email(&p.address), &ann)
    );
    call!(
        "count_signup",
        db.count_signup(&shop, &acme, "client:203.0.113.1", at(5))
    );
    call!("settle_signin", db.settle_signin(&shop, &acme, &ann));
    call!(
        "find_tenant_user",
        db.find_tenant_user(&shop, &acme, &p.user)
    );
    call!(
        "update_user_password",
        db.update_user_password(&shop, &p.user, &password_hash(4))
    );
    call!("find_password_params", db.find_password_params(&shop));
    call!(
        "prune_signin_failures",
        db.prune_signin_failures(at(0), at(0), 10)
    );
    call!("prune_sessions", db.prune_sessions(at(0), 10));
    call!("prune_webhook_events", db.prune_webhook_events(at(0), 10));
    call!("prune_audit", db.prune_audit(at(0), 10));
    call!(
        "create_session",
        db.create_session(&session(&face, 204), &token(204), &ann)
    );
    call!("find_by_refresh_token", db.find_by_refresh_token(&p.token));
    call!(
        "rotate_session",
        db.rotate_session(&p.session, 0, &token(205), at(6))
    );
    call!(
        "rotate_presented",
        db.rotate_presented(&shop, &acme, &p.token, &token(206), None, at(6))
    );
    call!("find_session", db.find_session(&p.session));
    call!(
        "find_session_user",
        db.find_session_user(&shop, &acme, &p.user, &p.session)
    );
    call!("revoke_session", db.revoke_session(&p.session, at(7)));
    let edge_key = tessera::domain::edge::EdgeKey {
        app: shop.clone(),
        tenant: acme.clone(),
        user: p.user,
    };
    call!(
        "lease_user_edge",
        db.lease_user_edge(&edge_key, at(0), at(7))
    );
    call!("lease_policy_edge", db.lease_policy_edge(&shop, at(7)));
    call!(
        "lease_keys_edge",
        db.lease_keys_edge(&KeyOwner::Operators, at(7))
    );
    call!("release_edge", db.release_edge(&edge_key.doc(), 1, true));
    call!("find_stale_edges", db.find_stale_edges(at(100_000), 10));
    call!(
        "mark_edge_changed",
        db.mark_edge_changed(&edge_key.doc(), at(7))
    );
    call!("create_member", db.create_member(&member, &invite, &e(107)));
    call!("find_invite", db.find_invite(&invite));
    call!(
        "accept_invite",
        db.accept_invite(&p.narrowed_invite, &owner.id, None, at(8), &e(108))
    );
    call!("find_member", db.find_member(&shop, &member.id));
    call!("list_members", db.list_members(&shop, None, 10));
    let mut left = member.clone();
    left.status = MemberStatus::Left;
    call!(
        "update_member",
        db.update_member(&left, MemberStatus::Invited, false, &e(109))
    );
    call!("find_grants", db.find_grants(&owner.id));
    call!("list_audit", db.list_audit(&shop, None, None, 10));
    call!(
        "put_role",
        db.put_role(
            &shop,
            &RoleName::parse("editor").unwrap(),
            &[],
            at(9),
            &e(110)
        )
    );
    let plan = Plan {
        roles: vec![],
        rate_limit: None,
    };
    call!(
        "put_plan",
        db.put_plan(
            &shop,
            &PlanTier::parse("pro").unwrap(),
            &plan,
            at(9),
            &e(111)
        )
    );
    call!("find_policy", db.find_policy(&shop));
    call!(
        "list_tenant_users",
        db.list_tenant_users(&shop, &acme, &UserFilter::default(), None, 10)
    );
    call!("find_user", db.find_user(&shop, &p.user));
    call!(
        "update_face",
        db.update_face(&existing_face, existing_face.version, &e(112))
    );
    let (other, other_face) = user(&shop, &tenant("public"), "other@example.com", 206);
    call!(
        "create_user_only",
        db.create_user_only(&other, &other_face, &e(113))
    );
    let mut associated = other_face.clone();
    associated.tenant_id = acme.clone();
    call!("associate", db.associate(&associated, &e(114)));
    call!(
        "revoke_user_sessions",
        db.revoke_user_sessions(&shop, &acme, &u.id, at(10), &e(115))
    );
    call!(
        "put_metadata",
        db.put_metadata(
            &shop,
            &p.user,
            &serde_json::json!({"a": 1}),
            at(10),
            &e(116)
        )
    );
    call!("find_metadata", db.find_metadata(&shop, &p.user));
    call!(
        "put_webhook_secret",
        db.put_webhook_secret(&shop, "sealed", at(10), &e(117))
    );
    call!("find_webhook_secret", db.find_webhook_secret(&shop));
    call!(
        "apply_plan_event",
        db.apply_plan_event(&shop, "evt_1", &existing_face, at(11), &e(118))
    );
    call!("has_event", db.has_event(&shop, "evt_1"));
    let plane = Plane::Tenant(shop.clone(), acme.clone());
    let proofs = proofs(&shop, &acme, &p.address);
    let consume = ConsumeCount {
        address: Some(format!("code:{}", p.address)),
        client: Some("client:203.0.113.1".into()),
        now: at(9),
    };
    let settle = Settlement {
        clear: Some(format!("code:{}", p.address)),
        give_back: Some("client:203.0.113.1".into()),
    };
    call!(
        "find_tenant_user_by_email",
        db.find_tenant_user_by_email(&shop, &acme, &email(&p.address))
    );
    call!(
        "put_email_delivery",
        db.put_email_delivery(&shop, &Delivery::Outbox, at(9), &e(120))
    );
    call!("find_email_delivery", db.find_email_delivery(&shop));
    call!(
        "create_outbox_message",
        db.create_outbox_message(&message(&shop, Some(&acme), &p.address, 215, 9), at(0))
    );
    call!("list_outbox", db.list_outbox(&shop, None, at(0), None, 10));
    call!(
        "create_dead_letter",
        db.create_dead_letter(&dead_letter(&shop, Some(&acme), &p.address, 216, 9), at(0))
    );
    call!("list_dead_letters", db.list_dead_letters(&shop, None, 10));
    let send = SendCount {
        address: format!("send:{}", p.address),
        client: Some("client:203.0.113.1".into()),
        now: at(9),
    };
    call!("count_send", db.count_send(&plane, &send));
    let another = challenge(
        &plane,
        Purpose::PasswordReset,
        "x@example.com",
        217,
        0,
        false,
    );
    call!("create_challenge", db.create_challenge(&another));
    call!(
        "find_challenge",
        db.find_challenge(&plane, &proofs.reset.id)
    );
    call!(
        "begin_code_try",
        db.begin_code_try(&plane, &proofs.code.id, &consume)
    );
    call!(
        "begin_link_try",
        db.begin_link_try(
            &plane,
            Purpose::PasswordReset,
            &proofs.reset.token_hash,
            &consume
        )
    );
    call!(
        "verify_email",
        db.verify_email(&proofs.verify.id, (&shop, &acme), &p.user, at(9), &settle)
    );
    call!(
        "reset_user_password",
        db.reset_user_password(
            &proofs.reset.id,
            (&shop, &acme),
            &p.user,
            &password_hash(5),
            at(9),
            &settle
        )
    );
    call!(
        "reset_operator_password",
        db.reset_operator_password(
            &proofs.operator.id,
            &owner.id,
            &password_hash(6),
            at(9),
            &settle
        )
    );
    let mut by_code = session(&existing_face, 218);
    by_code.created_at = at(9);
    call!(
        "passwordless_sign_in",
        db.passwordless_sign_in(&proofs.code.id, &by_code, &token(218), &settle)
    );
    let (fresh, fresh_face) = user(&shop, &acme, "fresh@example.com", 219);
    let mut fresh_session = session(&fresh_face, 219);
    fresh_session.created_at = at(9);
    call!(
        "passwordless_sign_up",
        db.passwordless_sign_up(
            &proofs.sign_up.id,
            &fresh,
            &fresh_face,
            (&fresh_session, &token(219)),
            &settle
        )
    );
    call!(
        "change_password",
        db.change_password(
            (&shop, &acme),
            &p.user,
            &password_hash(7),
            &by_code.id,
            at(10),
            &settle
        )
    );
    call!(
        "list_live_sessions",
        db.list_live_sessions((&shop, &acme), &p.user, at(10), None, 10)
    );
    call!(
        "prune_email",
        db.prune_email(at(2_000_000), at(100), at(100))
    );
    // Operators completed: sign-up, operator roles, email verification.
    call!(
        "count_operator_signup",
        db.count_operator_signup("client:203.0.113.1", at(12))
    );
    let (signed_app, signed_public) = new_app("signed-up");
    let signer = operator("signer@example.com", 230);
    let mut signer_member = bootstrap_membership(&signer);
    signer_member.app_id = signed_app.id.clone();
    signer_member.source = MembershipSource::Signup;
    call!(
        "sign_up_operator",
        db.sign_up_operator(
            Some(&signer),
            &signed_app,
            &signed_public,
            &signer_member,
            &entry(231, &signed_app.id, AuditAction::AppSignup, None)
        )
    );
    let reader = CustomRole {
        name: OperatorRoleName::parse("reader").unwrap(),
        permissions: vec![Permission::UsersRead],
    };
    call!(
        "put_operator_role",
        db.put_operator_role(&shop, &reader, at(12), &e(130))
    );
    call!("find_operator_roles", db.find_operator_roles(&shop));
    call!(
        "delete_operator_role",
        db.delete_operator_role(&shop, &reader.name, &e(131))
    );
    call!(
        "verify_operator_email",
        db.verify_operator_email(&proofs.operator_verify.id, &owner.id, at(12), &settle)
    );
    // Third-party sign-in.
    use contract::thirdparty::{identity, pid, provider};
    use tessera::store::ThirdPartyStore;
    let idp = provider(&shop, &acme, "idp", "https://idp.test", 300);
    call!("put_provider", db.put_provider(&idp, &e(300)));
    call!("find_provider", db.find_provider(&shop, &acme, &pid("idp")));
    call!("list_providers", db.list_providers(&shop, &acme, None, 10));
    call!(
        "begin_flow_step",
        db.begin_flow_step(
            &shop,
            &acme,
            &pid("idp"),
            Some(("client:203.0.113.9", &tessera::domain::throttle::CLIENT)),
            at(12)
        )
    );
    let flow = tessera::domain::thirdparty::Flow {
        state_hash: secret(SecretKind::FlowState, 30),
        app_id: shop.clone(),
        tenant_id: acme.clone(),
        provider_id: pid("idp"),
        redirect_uri: tessera::domain::links::WebUrl::parse_redirect_uri("https://app.example/cb")
            .unwrap(),
        created_at: at(12),
        expires_at: at(600_012),
    };
    call!("create_flow", db.create_flow(&flow));
    call!("take_flow", db.take_flow(&flow.state_hash));
    call!("prune_flows", db.prune_flows(at(1_000_000_000), 10));
    let (mut newcomer, newcomer_face) = user(&shop, &acme, "federated@example.com", 301);
    newcomer.password_hash = None;
    newcomer.email_verified = true;
    let federated = identity(&newcomer_face, "idp", "sub-301", "https://idp.test");
    call!(
        "thirdparty_sign_up",
        db.thirdparty_sign_up(
            &newcomer,
            &newcomer_face,
            &federated,
            (&session(&newcomer_face, 301), &token(61)),
            &settle
        )
    );
    call!(
        "find_identity",
        db.find_identity(&shop, &acme, &pid("idp"), "https://idp.test", "sub-301")
    );
    call!(
        "thirdparty_sign_in",
        db.thirdparty_sign_in(&session(&newcomer_face, 302), &token(62), &settle)
    );
    call!(
        "link_identity",
        db.link_identity(
            &identity(&existing_face, "idp", "sub-10", "https://idp.test"),
            &existing_face.email,
            false,
            (&session(&existing_face, 303), &token(63)),
            &settle
        )
    );
    call!(
        "delete_provider",
        db.delete_provider(&shop, &acme, &pid("idp"), &e(304))
    );
    // Deletions.
    let leaving = Target::User {
        app: shop.clone(),
        tenant: Some(acme.clone()),
        user: p.user,
    };
    let mut deletion = Deletion::begin(
        DeletionId::generate(at(13), [0xD0; 10]),
        &leaving,
        vec![acme.clone()],
        at(13),
    );
    let mut leave_entry = e(132);
    leave_entry.target = p.user.to_string();
    call!("begin_deletion", db.begin_deletion(&deletion, &leave_entry));
    call!("find_deletion", db.find_deletion(&shop, &deletion.id));
    call!("find_running_deletion", db.find_running_deletion(&leaving));
    call!("list_due_deletions", db.list_due_deletions(at(0), 10));
    for _ in 0..deletion.phases_total() {
        deletion.record_step(1, true, None, at(14));
    }
    call!("update_deletion", db.update_deletion(&deletion));
    call!("prune_deletions", db.prune_deletions(at(1_000_000_000), 10));
    let in_acme = Target::Tenant(shop.clone(), acme.clone());
    let whole = Target::App(shop.clone());
    call!("purge_api_keys", db.purge_api_keys(&in_acme, 10));
    call!("find_edge_docs", db.find_edge_docs(&in_acme, 10));
    call!(
        "forget_edge_docs",
        db.forget_edge_docs(&[format!("flags:shop:acme:{}", other.id)])
    );
    call!("purge_sessions", db.purge_sessions(&in_acme, 10));
    call!("find_client_secrets", db.find_client_secrets(&in_acme, 10));
    let client_secret = secret(SecretKind::ClientSecret, 45);
    call!(
        "forget_client_secrets",
        db.forget_client_secrets(&in_acme, &[client_secret])
    );
    call!("purge_thirdparty", db.purge_thirdparty(&in_acme, 10));
    call!("find_faces", db.find_faces(&in_acme, 10));
    call!(
        "purge_users",
        db.purge_users(&in_acme, &[(acme.clone(), other.id)], 10)
    );
    call!("purge_email", db.purge_email(&in_acme, 10));
    call!(
        "purge_signin_failures",
        db.purge_signin_failures(&in_acme, 10)
    );
    call!("purge_members", db.purge_members(&whole, 10));
    call!("purge_catalogue", db.purge_catalogue(&whole, 10));
    call!("purge_billing", db.purge_billing(&whole, 10));
    call!("purge_audit", db.purge_audit(&whole, "erased", 10));
    call!("purge_signing_keys", db.purge_signing_keys(&whole, 10));
    call!("purge_tenants", db.purge_tenants(&whole, 10));
    call!("delete_target_row", db.delete_target_row(&in_acme));
    outcomes
}

#[test]
fn every_method_fails_with_unavailable_and_changes_nothing_when_every_call_fails() {
    let (db, p) = populated();
    let before = db.snapshot();
    db.faults().fail_when(|call| call.starts_with("db "));
    let outcomes = block_on(call_every_method(&db, &p));
    assert_eq!(db.snapshot(), before);
    let mut names: Vec<&str> = outcomes.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    let mut every = EVERY_METHOD;
    every.sort_unstable();
    assert_eq!(names, every, "each method called once");
    for (name, outcome) in &outcomes {
        assert!(
            matches!(outcome, Err(Error::Unavailable(_))),
            "{name}: {outcome:?}"
        );
    }
    let injected: Vec<String> = outcomes.iter().map(|(n, _)| format!("db {n}")).collect();
    assert_eq!(
        db.faults().injected(),
        injected,
        "each failure is named after its method"
    );

    // Healed, the same calls succeed and change the store: the check above is not vacuous.
    db.faults().heal();
    let outcomes = block_on(call_every_method(&db, &p));
    for (name, outcome) in &outcomes {
        assert!(outcome.is_ok(), "{name}: {outcome:?}");
    }
    assert_ne!(db.snapshot(), before);
}

#[test]
fn any_one_method_made_to_fail_fails_alone_and_changes_nothing() {
    for method in EVERY_METHOD {
        let (db, p) = populated();
        let call = format!("db {method}");
        let failing = call.clone();
        db.faults().fail_when(move |c| c == failing);
        // `call_every_method` checks that the failed call left the state as it found it.
        let outcomes = block_on(call_every_method(&db, &p));
        // (Later calls may then be refused for what the failed call did not write.)
        let (_, outcome) = outcomes
            .iter()
            .find(|(name, _)| *name == method)
            .expect("every method is called");
        assert!(matches!(outcome, Err(Error::Unavailable(_))), "{method}");
        assert_eq!(db.faults().injected(), [call]);
    }
}

#[test]
fn a_seeded_store_holds_only_what_the_migrations_insert() {
    let db = MemoryStore::seeded();
    assert_eq!(
        db.row_counts(),
        RowCounts {
            apps: 1,
            tenants: 1,
            ..RowCounts::default()
        }
    );
    assert!(db.audit_entries().is_empty());
}

#[test]
fn a_sign_up_refused_by_a_constraint_writes_nothing() {
    let (db, p) = populated();
    let shop = app("shop");
    let (u, face) = user(&shop, &p.tenant, "new@example.com", 200);
    let mut reused = session(&face, 200);
    reused.id = p.session;
    let before = db.snapshot();
    let outcome = block_on(db.create_user(&u, &face, &reused, &token(200)));
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{outcome:?}");
    assert_eq!(db.snapshot(), before, "no user, face, session or token");
    let outcome = block_on(db.create_user(&u, &face, &session(&face, 200), &p.token));
    assert!(outcome.is_err(), "a refresh token hash is unique");
    assert_eq!(db.snapshot(), before);
    let outcome = block_on(db.create_user(&u, &face, &session(&face, 200), &token(200)));
    assert_eq!(
        outcome,
        Ok(true),
        "with fresh ids the same sign-up goes through"
    );
}

#[test]
fn writes_the_database_would_refuse_fail_and_change_nothing() {
    let (db, p) = populated();
    let shop = app("shop");
    let before = db.snapshot();
    let e = entry(300, &shop, AuditAction::TenantCreate, None);
    // A tenant of an app that does not exist: nothing goes in.
    let orphan = new_tenant(&app("ghost"), "acme");
    assert_eq!(block_on(db.create_tenant(&orphan, &e)), Ok(false));
    // An API key whose hash is taken (UNIQUE).
    let (key, _) = api_key(&shop, &p.tenant, 301);
    assert!(block_on(db.create_api_key(&key, &p.key_hash, &e)).is_err());
    // An audit entry whose id was used before (primary key): the change is refused with it.
    let used = db.audit_entries()[0].clone();
    assert!(block_on(db.create_tenant(&new_tenant(&shop, "bravo"), &used)).is_err());
    // Metadata of a user that does not exist (foreign key).
    let (ghost, _) = user(&shop, &p.tenant, "ghost@example.com", 302);
    let json = serde_json::json!({});
    assert!(block_on(db.put_metadata(&shop, &ghost.id, &json, at(1), &e)).is_err());
    // Rotating a session that does not exist inserts a token of no session (foreign key).
    let (_, face) = user(&shop, &p.tenant, "x@example.com", 303);
    assert!(block_on(db.rotate_session(&session(&face, 303).id, 0, &token(250), at(1))).is_err());
    assert_eq!(db.snapshot(), before);
    // A new operator with an email taken by another operator (UNIQUE).
    let mut owner = operator("owner@example.com", 304);
    owner.is_platform_owner = true;
    assert_eq!(
        block_on(db.create_platform_owner(&owner, &bootstrap_membership(&owner))),
        Ok(true)
    );
    let before_accept = db.snapshot();
    let twin = operator("owner@example.com", 305);
    let accept = entry(306, &shop, AuditAction::MemberAccept, None);
    let outcome =
        block_on(db.accept_invite(&p.narrowed_invite, &twin.id, Some(&twin), at(1), &accept));
    assert!(outcome.is_err());
    assert_eq!(
        db.snapshot(),
        before_accept,
        "the invitation is still pending"
    );
}

#[test]
fn the_test_helpers_report_counts_generations_and_entries_oldest_first() {
    let (db, p) = populated();
    let shop = app("shop");
    assert_eq!(
        db.failure_count("shop", p.tenant.as_str(), &format!("account:{}", p.address)),
        Some(5)
    );
    assert_eq!(
        db.failure_count("shop", "acme", "account:nobody@example.com"),
        None
    );
    block_on(db.rotate_session(&p.session, 0, &token(210), at(1))).unwrap();
    assert_eq!(db.refresh_token_generations(&p.session), [0, 1]);
    let actions: Vec<AuditAction> = db.audit_entries().iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::AppCreate,
            AuditAction::TenantCreate,
            AuditAction::ApiKeyCreate,
            AuditAction::MemberInvite
        ]
    );
    let counts = db.row_counts();
    assert_eq!((counts.apps, counts.tenants, counts.users), (2, 3, 1));
    assert_eq!((counts.sessions, counts.refresh_tokens), (1, 2));
    assert!(block_on(db.find_app(&shop)).unwrap().is_some());
}

#[test]
fn a_store_and_a_kv_namespace_can_share_one_fault_rule_and_one_call_log() {
    use tessera::store::EdgeStore;
    let db = MemoryStore::seeded();
    let edge = KvEdge::new(MemoryKv::with_faults(db.shared_faults()));
    db.faults().fail_when(|call| call.starts_with("kv put "));
    let shop = app("public");
    assert!(block_on(db.find_app(&shop)).unwrap().is_some());
    let (found, _) = new_app("shop");
    let outcome = block_on(edge.put_app(&found));
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{outcome:?}");
    assert_eq!(db.faults().calls(), ["db find_app", "kv put app:shop"]);
    assert_eq!(db.faults().injected(), ["kv put app:shop"]);
}
