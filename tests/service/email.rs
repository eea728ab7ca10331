//! Email delivery per app: the setting, the queue and its consumer (outbox, signed webhook,
//! retries with back-off, dead letters), and what is kept for how long.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::delivery::{Delivery, Envelope, DEAD_LETTER_RETENTION_MS};
use tessera::domain::links::WebUrl;
use tessera::domain::page::PageRequest;
use tessera::domain::webhook;
use tessera::domain::Error;
use tessera::service::email::{self, DeliveryRequest, Outcome};
use tessera::service::{passwordless, recovery};
use tessera::store::EmailStore;

fn first_page() -> PageRequest {
    PageRequest::parse(None, None).unwrap()
}

fn hook() -> DeliveryRequest {
    DeliveryRequest::Webhook(WebUrl::parse_webhook("https://mail.example/hook").unwrap())
}

fn send_reset(w: &World, app: &str, tenant_id: &str, to: &str) -> Result<(), Error> {
    block_on(recovery::send_reset(
        &w.cx(),
        &crate::world::app(app),
        &tenant(tenant_id),
        email(to),
        None,
    ))
}

#[test]
fn only_tenants_write_sets_the_delivery_and_the_webhook_secret_is_shown_once_and_kept_sealed() {
    let w = World::new();
    let (owner, shop, _) = w.mail_place();
    let refused = block_on(email::put_delivery(&w.cx(), &stranger(), &shop, hook()));
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    let secret = w.set_delivery(&owner, &shop, hook()).expect("a secret");
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let stored = block_on(w.db.find_email_delivery(&shop)).unwrap();
    let Delivery::Webhook { sealed_secret, url } = &stored else {
        panic!("{stored:?}")
    };
    assert_eq!(url.as_str(), "https://mail.example/hook");
    assert!(!sealed_secret.contains(&secret[6..]), "sealed at rest");
    let shown = block_on(email::get_delivery(&w.cx(), &owner, &shop)).unwrap();
    assert_eq!(
        shown, stored,
        "reading it gives no secret back, only the sealed form"
    );
    let again = w.set_delivery(&owner, &shop, hook()).unwrap();
    assert_ne!(again, secret, "every PUT of a webhook makes a new secret");
    let kinds: Vec<_> =
        w.db.audit_entries()
            .iter()
            .filter(|e| e.action.as_str() == "email_delivery.put")
            .map(|e| e.detail["kind"].clone())
            .collect();
    assert_eq!(kinds, ["outbox", "webhook", "webhook"]);
}

#[test]
fn without_delivery_every_flow_that_needs_email_answers_409_for_every_address_alike() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    w.set_delivery(&owner, &shop, DeliveryRequest::None);
    signup(&w, &shop, &acme, "ada@example.com");
    for to in ["ada@example.com", "nobody@example.com"] {
        assert_eq!(
            send_reset(&w, "shop", "acme", to),
            Err(Error::EmailDeliveryNotConfigured)
        );
        let started = block_on(passwordless::start(&w.cx(), &shop, &acme, email(to), None));
        assert_eq!(started.unwrap_err(), Error::EmailDeliveryNotConfigured);
    }
    let ada = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None).unwrap();
    let verify = block_on(recovery::send_verification(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
        None,
    ));
    assert_eq!(verify, Err(Error::EmailDeliveryNotConfigured));
    assert!(w.queue.is_empty(), "nothing was queued");
}

#[test]
fn a_tenant_without_a_link_base_cannot_send_links() {
    let w = World::new();
    let (owner, shop, _) = w.mail_place();
    w.tenant(&owner, &shop, "plain");
    assert_eq!(
        send_reset(&w, "shop", "plain", "ada@example.com"),
        Err(Error::EmailDeliveryNotConfigured)
    );
}

#[test]
fn the_outbox_is_read_only_while_the_kind_is_outbox_and_leaving_it_empties_it() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.deliver_all(&ScriptedMailer::default());
    let page = block_on(email::outbox(&w.cx(), &owner, &shop, None, &first_page())).unwrap();
    assert_eq!(page.items.len(), 1);
    let message = &page.items[0];
    assert!(message.link.as_deref().unwrap().starts_with(LINK_BASE));
    assert!(message.code.is_none());
    let to_other = block_on(email::outbox(
        &w.cx(),
        &owner,
        &shop,
        Some(&email("bob@example.com")),
        &first_page(),
    ))
    .unwrap();
    assert!(to_other.items.is_empty(), "the to filter");
    let denied = block_on(email::outbox(
        &w.cx(),
        &stranger(),
        &shop,
        None,
        &first_page(),
    ));
    assert!(matches!(denied, Err(Error::Forbidden(_))));
    w.set_delivery(&owner, &shop, hook());
    let gone = block_on(email::outbox(&w.cx(), &owner, &shop, None, &first_page()));
    assert!(matches!(gone, Err(Error::Conflict(_))), "{gone:?}");
    w.set_delivery(&owner, &shop, DeliveryRequest::Outbox);
    assert_eq!(w.outbox_len(&shop), 0, "leaving outbox deleted it");
}

#[test]
fn outbox_messages_are_listed_for_24_hours() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.deliver_all(&ScriptedMailer::default());
    w.advance_ms(24 * 3_600_000 - 1);
    let page = block_on(email::outbox(&w.cx(), &owner, &shop, None, &first_page())).unwrap();
    assert_eq!(page.items.len(), 1);
    w.advance_ms(2);
    let page = block_on(email::outbox(&w.cx(), &owner, &shop, None, &first_page())).unwrap();
    assert!(page.items.is_empty());
}

#[test]
fn the_queue_carries_no_code_link_or_address_in_the_clear() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    block_on(passwordless::start(
        &w.cx(),
        &shop,
        &acme,
        email("ada@example.com"),
        None,
    ))
    .unwrap();
    let queued = w.queue.take();
    assert_eq!(queued.len(), 1);
    let (envelope, delay) = &queued[0];
    assert_eq!(*delay, 0);
    let text = serde_json::to_string(envelope).unwrap();
    for secret in ["ada@example.com", "tsl_", "acme", "passwordless"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let (message, real) = envelope.open(&w.cx().encryption_key().unwrap()).unwrap();
    assert!(real);
    assert_eq!(message.code.as_ref().unwrap().len(), 6);
}

#[test]
fn a_webhook_gets_the_documented_body_signed_with_the_delivery_secret() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    let secret = w.set_delivery(&owner, &shop, hook()).unwrap();
    block_on(passwordless::start(
        &w.cx(),
        &shop,
        &acme,
        email("ada@example.com"),
        None,
    ))
    .unwrap();
    let mailer = ScriptedMailer::default();
    assert_eq!(w.deliver_all(&mailer), [Outcome::Delivered]);
    let posts = mailer.posts();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post.url, "https://mail.example/hook");
    let body = &post.raw;
    let now = w.now().unix_seconds();
    assert!(webhook::verify(&secret, &post.signature, body, now));
    assert!(!webhook::verify("whsec_other", &post.signature, body, now));
    let b = &post.body;
    assert_eq!(b["type"], "passwordless");
    assert_eq!(b["app_id"], "shop");
    assert_eq!(b["tenant_id"], "acme");
    assert_eq!(b["to"], "ada@example.com");
    assert_eq!(b["code"].as_str().unwrap().len(), 6);
    assert!(b["link"].as_str().unwrap().starts_with(LINK_BASE));
    assert!(b["id"].is_string() && b["expires_at"].is_string());
    assert_eq!(w.outbox_len(&shop), 0);
}

#[test]
fn a_mailer_that_fails_twice_gets_the_message_a_third_time_after_backing_off() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    w.set_delivery(&owner, &shop, hook());
    signup(&w, &shop, &acme, "ada@example.com");
    // The answer came before any delivery was tried.
    assert_eq!(send_reset(&w, "shop", "acme", "ada@example.com"), Ok(()));
    let mailer = ScriptedMailer::answering(&[Ok(503), Err("connection refused")]);
    let first = w.queue.take();
    let outcome = block_on(email::deliver(&w.cx(), &mailer, &first[0].0)).unwrap();
    assert_eq!(outcome, Outcome::Retried { delay_seconds: 10 });
    let (second, delay) = w.queue.take().remove(0);
    assert_eq!((second.attempt, delay), (2, 10));
    w.advance_ms(10_000);
    let outcome = block_on(email::deliver(&w.cx(), &mailer, &second)).unwrap();
    assert_eq!(outcome, Outcome::Retried { delay_seconds: 20 });
    let (third, delay) = w.queue.take().remove(0);
    assert_eq!((third.attempt, delay), (3, 20));
    w.advance_ms(20_000);
    assert_eq!(
        block_on(email::deliver(&w.cx(), &mailer, &third)).unwrap(),
        Outcome::Delivered
    );
    let ids: Vec<_> = mailer
        .posts()
        .iter()
        .map(|p| p.body["id"].clone())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one message, three attempts"
    );
}

#[test]
fn a_message_the_mailer_never_takes_becomes_a_dead_letter_without_its_secrets() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    w.set_delivery(&owner, &shop, hook());
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    let mailer = ScriptedMailer::answering(&[Ok(500); 20]);
    let mut outcomes = Vec::new();
    while let Some((envelope, delay)) = w.queue.take().pop() {
        w.advance_ms(i64::from(delay) * 1000);
        outcomes.push(block_on(email::deliver(&w.cx(), &mailer, &envelope)).unwrap());
    }
    // 10 s, 20 s, 40 s, 80 s, 160 s, 320 s: the next wait would outlive the 15-minute link.
    assert_eq!(outcomes.len(), 7, "{outcomes:?}");
    assert_eq!(
        outcomes.last(),
        Some(&Outcome::DeadLettered {
            reason: "the mailer answered 500".into()
        })
    );
    let letters = block_on(email::dead_letters(&w.cx(), &owner, &shop, &first_page())).unwrap();
    assert_eq!(letters.items.len(), 1);
    let letter = &letters.items[0];
    assert_eq!(
        (letter.attempts, letter.to.as_str()),
        (7, "ada@example.com")
    );
    let shown = format!("{letter:?}");
    assert!(!shown.contains("tsl_"), "no link kept: {shown}");
    let denied = block_on(email::dead_letters(
        &w.cx(),
        &stranger(),
        &shop,
        &first_page(),
    ));
    assert!(matches!(denied, Err(Error::Forbidden(_))));
}

#[test]
fn an_expired_message_or_one_without_delivery_is_not_delivered_but_recorded() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.advance_ms(15 * 60_000);
    assert_eq!(
        w.deliver_all(&ScriptedMailer::default()),
        [Outcome::DeadLettered {
            reason: "expired before delivery".into()
        }]
    );
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.set_delivery(&owner, &shop, DeliveryRequest::None);
    assert_eq!(
        w.deliver_all(&ScriptedMailer::default()),
        [Outcome::DeadLettered {
            reason: "delivery is not configured".into()
        }]
    );
    assert_eq!(w.outbox_len(&shop), 0);
}

#[test]
fn a_decoy_for_an_unknown_address_is_dropped_unseen() {
    let w = World::new();
    let (owner, shop, _) = w.mail_place();
    w.set_delivery(&owner, &shop, hook());
    send_reset(&w, "shop", "acme", "nobody@example.com").unwrap();
    let mailer = ScriptedMailer::default();
    assert_eq!(w.deliver_all(&mailer), [Outcome::Dropped]);
    assert!(mailer.posts().is_empty());
    let letters = block_on(email::dead_letters(&w.cx(), &owner, &shop, &first_page())).unwrap();
    assert!(letters.items.is_empty());
}

#[test]
fn an_envelope_that_does_not_open_is_dropped_and_a_storage_failure_is_left_to_the_queue() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    let (envelope, _) = w.queue.take().remove(0);
    let tampered = Envelope {
        sealed: envelope.sealed.replace('A', "B"),
        ..envelope.clone()
    };
    let mailer = ScriptedMailer::default();
    assert_eq!(
        block_on(email::deliver(&w.cx(), &mailer, &tampered)).unwrap(),
        Outcome::Unreadable
    );
    w.db.faults()
        .fail_when(|call| call == "db create_outbox_message");
    let failed = block_on(email::deliver(&w.cx(), &mailer, &envelope));
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    assert_eq!(w.outbox_len(&shop), 0);
    w.db.faults().heal();
    assert_eq!(
        block_on(email::deliver(&w.cx(), &mailer, &envelope)).unwrap(),
        Outcome::Delivered,
        "the queue's retry delivers it"
    );
    assert_eq!(
        block_on(email::deliver(&w.cx(), &mailer, &envelope)).unwrap(),
        Outcome::Delivered
    );
    assert_eq!(w.outbox_len(&shop), 1, "a repeat writes nothing twice");
}

#[test]
fn a_queue_that_is_down_fails_the_send_closed() {
    let w = World::new();
    let (_, shop, acme) = w.mail_place();
    w.db.faults().fail_when(|call| call == "queue send");
    let sent = block_on(passwordless::start(
        &w.cx(),
        &shop,
        &acme,
        email("ada@example.com"),
        None,
    ));
    assert!(matches!(sent, Err(Error::Unavailable(_))), "{sent:?}");
}

#[test]
fn the_daily_clean_up_forgets_expired_challenges_old_messages_and_old_dead_letters() {
    let w = World::new();
    let (owner, shop, acme) = w.mail_place();
    signup(&w, &shop, &acme, "ada@example.com");
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.deliver_all(&ScriptedMailer::default());
    w.set_delivery(&owner, &shop, hook());
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.deliver_all(&ScriptedMailer::answering(&[Ok(500); 20]));
    let counts = w.db.row_counts();
    assert_eq!((counts.email_challenges, counts.email_dead_letters), (2, 1));
    w.set_delivery(&owner, &shop, DeliveryRequest::Outbox);
    send_reset(&w, "shop", "acme", "ada@example.com").unwrap();
    w.deliver_all(&ScriptedMailer::default());
    block_on(email::prune(&w.cx())).unwrap();
    assert_eq!(
        w.db.row_counts().email_challenges,
        3,
        "nothing has expired yet"
    );
    w.advance_ms(DEAD_LETTER_RETENTION_MS + 1);
    block_on(email::prune(&w.cx())).unwrap();
    let counts = w.db.row_counts();
    assert_eq!(
        (
            counts.email_challenges,
            counts.email_send_counts,
            counts.email_outbox,
            counts.email_dead_letters
        ),
        (0, 0, 0, 0)
    );
}
