//! Redis credentials (`redis_username`, `redis_password`), sent on every
//! connection the balancer opens to the index and the data nodes: by
//! redis-rs on its pooled connections ([`RedisAuth::settings`]), as the
//! `AUTH` that opens each shared one ([`RedisAuth::login`]), and as the
//! `AUTH` before the `HELLO` that opens each invalidation stream
//! ([`RedisAuth::hello`]). `AUTH` goes on its own: every Redis knows it
//! and its errors never quote the arguments, where a Redis that does not
//! know `HELLO` would quote the password back in its error.
//!
//! A password alone authenticates as Redis's `default` user (what
//! `requirepass` sets), named in the two-argument `AUTH` on every
//! connection alike; with a username, as that ACL user. The default user
//! without a password accepts any password, so credentials can be set on
//! the balancers before `requirepass` is set on the servers. A wrong or
//! missing password is an error that names authentication
//! ([`is_auth_failure`]), so a node or the index shows as down "for"
//! that, not as a generic failure.

use memreport::settings::Secret;
use redis::RedisConnectionInfo;

/// The user `AUTH` names when only a password is configured: the user
/// `requirepass` sets the password of.
const DEFAULT_USER: &str = "default";

/// Who the balancer is to Redis: no AUTH at all when both are unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisAuth {
    /// ACL user; none means `default`.
    pub username: Option<String>,
    /// Password; none means no AUTH.
    pub password: Option<Secret>,
}

impl RedisAuth {
    /// redis-rs connection settings carrying these credentials.
    pub fn settings(&self, settings: RedisConnectionInfo) -> RedisConnectionInfo {
        let Some(password) = &self.password else {
            return settings;
        };
        settings
            .set_password(password.expose())
            .set_username(self.username.as_deref().unwrap_or(DEFAULT_USER))
    }

    /// The RESP commands that open a RESP3 session, authenticated when a
    /// password is set: `AUTH <user> <password>` (as an array of bulk
    /// strings, so a password may hold any byte), then `HELLO 3`.
    pub fn hello(&self) -> Vec<u8> {
        let mut commands = self.login().unwrap_or_default();
        commands.extend(array(&["HELLO", "3"]));
        commands
    }

    /// `AUTH <user> <password>` when a password is set: what opens a
    /// data connection (RESP2, [`crate::backend`]).
    pub fn login(&self) -> Option<Vec<u8>> {
        let password = self.password.as_ref()?;
        let user = self.username.as_deref().unwrap_or(DEFAULT_USER);
        Some(array(&["AUTH", user, password.expose()]))
    }

    /// How many replies [`RedisAuth::hello`]'s commands get.
    pub fn hello_replies(&self) -> usize {
        1 + usize::from(self.password.is_some())
    }
}

fn array(args: &[&str]) -> Vec<u8> {
    let mut command = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        command.extend(format!("${}\r\n", arg.len()).into_bytes());
        command.extend(arg.as_bytes());
        command.extend(b"\r\n");
    }
    command
}

/// True when a Redis error says authentication failed: a wrong password
/// or user (`WRONGPASS`, redis-rs's `AuthenticationFailed`), or none
/// given to a server that wants one (`NOAUTH`).
pub fn is_auth_failure(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// The same, for an error text from a server's reply.
pub fn is_auth_reply(text: &str) -> bool {
    text.starts_with("NOAUTH") || text.starts_with("WRONGPASS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_authenticates_only_with_a_password() {
        assert_eq!(
            RedisAuth::default().hello(),
            b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
        );
        let auth = RedisAuth {
            username: None,
            password: Some(Secret::new("p w")),
        };
        assert_eq!(
            auth.hello(),
            b"*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$3\r\np w\r\n*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            (RedisAuth::default().hello_replies(), auth.hello_replies()),
            (1, 2)
        );
        let auth = RedisAuth {
            username: Some("dlb".into()),
            ..auth
        };
        assert!(
            auth.hello()
                .starts_with(b"*3\r\n$4\r\nAUTH\r\n$3\r\ndlb\r\n$3\r\np w\r\n")
        );
    }

    #[test]
    fn settings_carry_the_credentials() {
        let auth = RedisAuth {
            username: Some("dlb".into()),
            password: Some(Secret::new("pw")),
        };
        let settings = auth.settings(RedisConnectionInfo::default());
        assert_eq!(settings.username(), Some("dlb"));
        assert_eq!(settings.password(), Some("pw"));
        let none = RedisAuth::default().settings(RedisConnectionInfo::default());
        assert_eq!((none.username(), none.password()), (None, None));
        let password_only = RedisAuth {
            username: None,
            password: Some(Secret::new("pw")),
        };
        let settings = password_only.settings(RedisConnectionInfo::default());
        assert_eq!(
            settings.username(),
            Some("default"),
            "the two-argument AUTH"
        );
    }
}
