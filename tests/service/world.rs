//! A world for the use cases: the memory adapters of every port, a clock the test moves, a
//! deterministic source of randomness, cheap password hashing, and one isolate's caches.

use futures_executor::block_on;
use std::cell::{Cell, RefCell};
use tessera::domain::authz::{Principal, Scope};
use tessera::domain::delivery::Message;
use tessera::domain::email::Email;
use tessera::domain::ids::{AppId, OperatorId, TenantId, UserId};
use tessera::domain::links::WebUrl;
use tessera::domain::password::Password;
use tessera::domain::time::Timestamp;
use tessera::domain::Error;
use tessera::service::{self, Caches, CompactVerifier, Config, Random, Stores};
use tessera::store::kv::KvEdge;
use tessera::store::memory::{MemoryKv, MemoryQueue, MemoryStore};
use tessera::store::{EmailStore, Mailer, SignatureVerifier};

/// A signature verifier for callers that present no signed assertion: it verifies nothing.
pub struct NoSignatures;

impl SignatureVerifier for NoSignatures {
    async fn verify(
        &self,
        _alg: tessera::domain::jose::JwsAlgorithm,
        _key: &tessera::domain::jose::Jwk,
        _message: &[u8],
        _signature: &[u8],
    ) -> Result<bool, Error> {
        Ok(false)
    }
}

/// The memory adapters.
pub struct Memory;

impl Stores for Memory {
    type Db = MemoryStore;
    type Edge = KvEdge<MemoryKv>;
    type Verifier = CompactVerifier;
    type Queue = MemoryQueue;
}

pub type Ctx<'a> = service::Ctx<'a, Memory>;

/// Distinct, repeatable bytes (splitmix64 over a counter): never the same twice in a world.
#[derive(Default)]
pub struct Sequence(Cell<u64>);

impl Random for Sequence {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        for chunk in dest.chunks_mut(8) {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

pub const SECRET: &str = "test-only-key-encryption-secret!";
pub const ROOT_TOKEN: &str = "test-root-token";
pub const PASSWORD: &str = "correct horse battery";
/// The start of every world's clock.
pub const START: i64 = 1_767_225_600_000;

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log(message: &str) {
    LOG.with(|l| l.borrow_mut().push(message.to_owned()));
}

/// What the use cases reported without failing (rehash failures, mirrors not repaired…).
#[allow(dead_code, reason = "not every test binary module reads the log")]
pub fn logged() -> Vec<String> {
    LOG.with(|l| l.borrow().clone())
}

pub struct World {
    pub db: MemoryStore,
    pub kv: MemoryKv,
    pub edge: KvEdge<MemoryKv>,
    pub queue: MemoryQueue,
    pub config: Config,
    pub caches: Caches,
    random: Sequence,
    now: Cell<Timestamp>,
}

impl World {
    /// A fresh deployment: the `public` app with its `public` tenant, nothing else.
    pub fn new() -> Self {
        let kv = MemoryKv::default();
        let mut config = Config::with_secret(SECRET);
        config.admin_root_token = Some(ROOT_TOKEN.to_owned());
        config.test_pbkdf2_iterations = Some(2);
        let db = MemoryStore::seeded();
        World {
            queue: MemoryQueue::with_faults(db.shared_faults()),
            db,
            edge: KvEdge::new(kv.clone()),
            kv,
            config,
            caches: Caches::default(),
            random: Sequence::default(),
            now: Cell::new(Timestamp::from_unix_ms(START)),
        }
    }

    /// The context of a request made now.
    pub fn cx(&self) -> Ctx<'_> {
        self.cx_with(&self.caches)
    }

    /// The context of a request made now in another isolate (with its own caches).
    pub fn cx_with<'a>(&'a self, caches: &'a Caches) -> Ctx<'a> {
        service::Ctx {
            db: &self.db,
            edge: &self.edge,
            verifier: &CompactVerifier,
            queue: &self.queue,
            now: self.now.get(),
            origin: "https://tessera.test",
            config: &self.config,
            caches,
            random: &self.random,
            log,
        }
    }

    /// The world's clock.
    pub fn now(&self) -> Timestamp {
        self.now.get()
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: i64) {
        self.now.set(self.now.get().plus_ms(ms));
    }

    /// Another isolate: the same stores, empty caches.
    pub fn new_isolate(&mut self) {
        self.caches = Caches::default();
    }

    /// Bootstraps the platform owner and returns it as a principal.
    pub fn owner(&self) -> Principal {
        let operator = block_on(service::operators::bootstrap(
            &self.cx(),
            Some(ROOT_TOKEN),
            email("owner@example.com"),
            &password(PASSWORD),
        ))
        .expect("bootstrap");
        Principal::PlatformOwner(operator.id)
    }

    /// A new app made by `owner`.
    pub fn app(&self, owner: &Principal, id: &str) -> AppId {
        block_on(service::tenancy::create_app(&self.cx(), owner, app(id))).expect("app");
        app(id)
    }

    /// A new tenant of `app_id` made by `owner`, with email+password sign-in.
    pub fn tenant(&self, owner: &Principal, app_id: &AppId, id: &str) -> TenantId {
        block_on(service::tenancy::put_tenant(
            &self.cx(),
            owner,
            app_id,
            &tenant(id),
            service::tenancy::TenantSettings::default(),
        ))
        .expect("tenant");
        tenant(id)
    }

    /// An API key of the tenant with `scopes`, made by `owner`; returns its secret.
    pub fn api_key(
        &self,
        owner: &Principal,
        app_id: &AppId,
        tenant_id: &TenantId,
        scopes: &[&str],
    ) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let (_, secret) = block_on(service::api_keys::create(
            &self.cx(),
            owner,
            app_id,
            tenant_id,
            tessera::domain::tenancy::ApiKeyName::parse("test").unwrap(),
            Scope::parse_list(&scopes).unwrap(),
        ))
        .expect("api key");
        secret.expose().to_owned()
    }
}

pub fn app(id: &str) -> AppId {
    AppId::parse(id).unwrap()
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

pub fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

pub fn password(raw: &str) -> Password {
    Password::parse(raw).unwrap()
}

/// An operator principal that is not the platform owner and has no memberships.
pub fn stranger() -> Principal {
    Principal::Operator {
        id: OperatorId::generate(Timestamp::EPOCH, [9; 10]),
        grants: Vec::new(),
    }
}

/// Signs `who` up in the tenant (no client address); returns what the client gets.
pub fn signup(
    world: &World,
    app_id: &AppId,
    tenant_id: &TenantId,
    who: &str,
) -> tessera::service::signin::SignedIn {
    block_on(service::signin::signup(
        &world.cx(),
        app_id,
        tenant_id,
        email(who),
        &password(PASSWORD),
        None,
    ))
    .expect("sign-up")
}

/// Signs `who` in with `secret` from `client`.
pub fn signin(
    world: &World,
    app_id: &AppId,
    tenant_id: &TenantId,
    who: &str,
    secret: &str,
    client: Option<&str>,
) -> Result<tessera::service::signin::SignedIn, Error> {
    block_on(service::signin::signin(
        &world.cx(),
        app_id,
        tenant_id,
        email(who),
        &password(secret),
        client.map(str::to_owned),
        None,
    ))
}

/// Introspects `token` at the tenant with the API key `key`.
pub fn introspect(
    world: &World,
    app_id: &AppId,
    tenant_id: &TenantId,
    key: &str,
    token: &str,
) -> Result<service::introspection::Introspection, Error> {
    use service::introspection::{self, ClientCheck, Introspection};
    block_on(async {
        let cx = world.cx();
        match introspection::introspection_client(&cx, &NoSignatures, app_id, tenant_id, Some(key))
            .await?
        {
            ClientCheck::FailedClosed => Ok(Introspection::Inactive),
            ClientCheck::Authenticated(client) => {
                Ok(introspection::introspect(&cx, &client, token).await)
            }
        }
    })
}

/// True when `token` introspects active.
pub fn is_active(
    world: &World,
    app_id: &AppId,
    tenant_id: &TenantId,
    key: &str,
    token: &str,
) -> bool {
    matches!(
        introspect(world, app_id, tenant_id, key, token),
        Ok(service::introspection::Introspection::Active(_))
    )
}

// ---------------------------------------------------------------- email

/// One POST a mailer received.
#[derive(Debug, Clone)]
pub struct Post {
    pub url: String,
    pub signature: String,
    /// The body as sent (what the signature covers).
    pub raw: Vec<u8>,
    pub body: serde_json::Value,
}

/// A mailer whose answers a test scripts: each post takes the next answer (`200` once the
/// script is used up), and every post is recorded.
#[derive(Default)]
pub struct ScriptedMailer {
    answers: RefCell<std::collections::VecDeque<Result<u16, String>>>,
    posts: RefCell<Vec<Post>>,
}

impl ScriptedMailer {
    /// A mailer that answers `answers` in turn, then `200`.
    pub fn answering(answers: &[Result<u16, &str>]) -> Self {
        let mailer = ScriptedMailer::default();
        *mailer.answers.borrow_mut() = answers.iter().map(|a| a.map_err(str::to_owned)).collect();
        mailer
    }

    /// Every post so far.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.borrow().clone()
    }
}

impl Mailer for ScriptedMailer {
    async fn post(&self, url: &WebUrl, signature: &str, body: &[u8]) -> Result<u16, String> {
        self.posts.borrow_mut().push(Post {
            url: url.to_string(),
            signature: signature.to_owned(),
            raw: body.to_vec(),
            body: serde_json::from_slice(body).expect("the body is JSON"),
        });
        self.answers.borrow_mut().pop_front().unwrap_or(Ok(200))
    }
}

/// The link base of the mail tenants.
pub const LINK_BASE: &str = "https://app.example/auth";

impl World {
    /// The app `shop` with its tenant `acme` (email and password, passwordless, a link base)
    /// and its delivery set to the outbox; returns the owner too.
    pub fn mail_place(&self) -> (Principal, AppId, TenantId) {
        let owner = self.owner();
        let shop = self.app(&owner, "shop");
        let acme = self.mail_tenant(&owner, &shop, "acme");
        self.set_delivery(&owner, &shop, service::email::DeliveryRequest::Outbox);
        (owner, shop, acme)
    }

    /// A tenant with email and password, passwordless and the link base.
    pub fn mail_tenant(&self, owner: &Principal, app_id: &AppId, id: &str) -> TenantId {
        use tessera::domain::tenancy::LoginMethod;
        block_on(service::tenancy::put_tenant(
            &self.cx(),
            owner,
            app_id,
            &tenant(id),
            service::tenancy::TenantSettings {
                login_methods: Some(vec![LoginMethod::EmailPassword, LoginMethod::Passwordless]),
                link_base_url: Some(Some(WebUrl::parse_link_base(LINK_BASE).unwrap())),
                redirect_uris: None,
            },
        ))
        .expect("tenant");
        tenant(id)
    }

    /// Sets the app's delivery; returns the webhook secret, if one was made.
    pub fn set_delivery(
        &self,
        owner: &Principal,
        app_id: &AppId,
        request: service::email::DeliveryRequest,
    ) -> Option<String> {
        block_on(service::email::put_delivery(
            &self.cx(),
            owner,
            app_id,
            request,
        ))
        .expect("delivery")
        .1
        .map(|s| s.0)
    }

    /// Hands every queued envelope to the consumer (the ones it queues again too, at most 50
    /// rounds), now; returns the outcomes in order.
    pub fn deliver_all(&self, mailer: &ScriptedMailer) -> Vec<service::email::Outcome> {
        let mut outcomes = Vec::new();
        for _ in 0..50 {
            let queued = self.queue.take();
            if queued.is_empty() {
                break;
            }
            for (envelope, _) in queued {
                let outcome = block_on(service::email::deliver(&self.cx(), mailer, &envelope))
                    .expect("delivered without a storage failure");
                outcomes.push(outcome);
            }
        }
        outcomes
    }

    /// Delivers what is queued to the outbox, and answers the newest message to `to`.
    pub fn last_message(&self, app_id: &AppId, to: &str) -> Message {
        self.deliver_all(&ScriptedMailer::default());
        block_on(
            self.db
                .list_outbox(app_id, Some(&email(to)), Timestamp::EPOCH, None, 1),
        )
        .expect("outbox")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no message to {to}"))
    }

    /// How many messages the outbox of `app_id` holds.
    pub fn outbox_len(&self, app_id: &AppId) -> usize {
        block_on(
            self.db
                .list_outbox(app_id, None, Timestamp::EPOCH, None, 200),
        )
        .expect("outbox")
        .len()
    }
}

/// The `token` parameter of a message's link.
pub fn token_of(message: &Message) -> String {
    let link = message.link.as_deref().expect("a link");
    link.split("token=").nth(1).expect("a token").to_owned()
}

impl World {
    /// Suspends a user in a tenant, as `owner`.
    pub fn suspend(&self, owner: &Principal, app_id: &AppId, tenant_id: &TenantId, user: &UserId) {
        block_on(service::users::set_status(
            &self.cx(),
            owner,
            app_id,
            tenant_id,
            user,
            tessera::domain::user::UserStatus::Suspended,
            None,
        ))
        .expect("suspended");
    }
}
