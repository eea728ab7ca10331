//! Refresh sessions and the rotation state machine.
//!
//! A session is a family of refresh tokens. Each token carries a generation; only the current
//! one rotates. The successor of a token is derived from it with HMAC under a server secret, so
//! presenting the same token twice always yields the same successor: concurrent refreshes with
//! one token produce at most one successor, and a client that lost a response gets the same
//! pair back within the grace window. Anything older — or the previous token after the window —
//! is theft, and the whole session is revoked.

use super::ids::{AppId, TenantId};
use super::secret::{PlainSecret, SecretKind};
use super::time::Timestamp;
use super::user::UserId;
use super::Error;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use super::ids::SessionId;

/// A refresh session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// Generation of the current refresh token.
    pub generation: i64,
    /// When the current generation was issued.
    pub rotated_at: Timestamp,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    /// Absolute end of the session.
    pub expires_at: Timestamp,
    /// The session ends after this long without a refresh.
    pub idle_timeout_ms: i64,
    pub revoked_at: Option<Timestamp>,
    /// The OAuth client holding this session, with what it was granted; `None` for a session
    /// of the tenant's own app (sign-in, sign-up, refresh at `/auth/*`).
    pub grant: Option<super::oauth::SessionGrant>,
}

impl Session {
    /// True when the session can no longer be refreshed at `now` (absolute or idle end).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at || now >= self.last_used_at.plus_ms(self.idle_timeout_ms)
    }
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// The current token: rotate to its successor.
    Rotate,
    /// The previous token within the grace window: answer with the successor already issued.
    Replay,
    /// An older token, or the previous one after the window: revoke the session.
    Theft,
    /// The session is revoked or past its lifetime: `401 invalid_token`.
    Dead,
}

/// Decides what a token of generation `presented` means for `session` at `now`.
pub fn decide(session: &Session, presented: i64, now: Timestamp, grace_ms: i64) -> RefreshDecision {
    if session.revoked_at.is_some() || session.is_expired(now) {
        RefreshDecision::Dead
    } else if presented == session.generation {
        RefreshDecision::Rotate
    } else if presented == session.generation - 1 && now.ms_since(session.rotated_at) <= grace_ms {
        RefreshDecision::Replay
    } else {
        RefreshDecision::Theft
    }
}

/// Derives successors of refresh tokens.
pub struct SuccessorKey(Vec<u8>);

impl SuccessorKey {
    /// The key, derived from the deployment secret under its own label.
    pub fn from_secret(secret: &str) -> Result<Self, Error> {
        let key = super::keys::derive_key(secret, b"tessera/refresh-successor/v1")?;
        Ok(SuccessorKey(key.to_vec()))
    }

    /// The one successor of `token`: the same input always gives the same output.
    pub fn successor(&self, token: &PlainSecret) -> Result<PlainSecret, Error> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .map_err(|_| Error::Internal("cannot key HMAC".to_owned()))?;
        mac.update(token.expose().as_bytes());
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(PlainSecret::generate(SecretKind::RefreshToken, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: i64 = 30_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_ms(ms)
    }

    fn session() -> Session {
        Session {
            id: SessionId::generate(Timestamp::EPOCH, [0; 10]),
            app_id: AppId::parse("shop").unwrap(),
            tenant_id: TenantId::parse("acme").unwrap(),
            user_id: UserId::generate(Timestamp::EPOCH, [1; 10]),
            generation: 3,
            rotated_at: at(1_000_000),
            created_at: at(0),
            last_used_at: at(1_000_000),
            expires_at: at(10_000_000),
            idle_timeout_ms: 2_000_000,
            revoked_at: None,
            grant: None,
        }
    }

    #[test]
    fn the_rotation_state_machine_follows_the_table() {
        use RefreshDecision::*;
        let s = session();
        let now = 1_000_000 + 5_000;
        let table = [
            (3, now, Rotate),
            (2, now, Replay),
            (2, 1_000_000 + GRACE, Replay),
            (2, 1_000_000 + GRACE + 1, Theft),
            (1, now, Theft),
            (0, now, Theft),
            (4, now, Theft),
        ];
        for (presented, when, expected) in table {
            assert_eq!(
                decide(&s, presented, at(when), GRACE),
                expected,
                "gen {presented} at {when}"
            );
        }
    }

    #[test]
    fn revoked_or_expired_sessions_are_dead_whatever_the_token() {
        let mut s = session();
        s.revoked_at = Some(at(1));
        assert_eq!(decide(&s, 3, at(1_000_001), GRACE), RefreshDecision::Dead);
        let s = session();
        assert_eq!(
            decide(&s, 3, at(10_000_000), GRACE),
            RefreshDecision::Dead,
            "absolute end"
        );
        assert_eq!(
            decide(&s, 3, at(3_000_000), GRACE),
            RefreshDecision::Dead,
            "idle end"
        );
        assert_eq!(decide(&s, 3, at(2_999_999), GRACE), RefreshDecision::Rotate);
    }

    #[test]
    fn a_token_has_exactly_one_successor_and_it_depends_on_the_secret() {
        let key = SuccessorKey::from_secret("0123456789abcdef0123456789abcdef").unwrap();
        let token = PlainSecret::generate(SecretKind::RefreshToken, [7; 32]);
        let next = key.successor(&token).unwrap();
        assert_eq!(key.successor(&token).unwrap(), next);
        assert!(next.expose().starts_with("tsr_"));
        assert_ne!(next, token);
        let other = SuccessorKey::from_secret("another secret that is long enough!").unwrap();
        assert_ne!(other.successor(&token).unwrap(), next);
    }
}
