//! ZooKeeper settings, the credentials for Redis and ZooKeeper, the admin
//! API's token, and this balancer's identity in ZooKeeper.

use super::Config;
use crate::auth::RedisAuth;
use crate::backend::Dial;

impl Config {
    /// ZooKeeper settings, when configured.
    pub fn zookeeper(&self) -> Option<coordination::session::ZkConfig> {
        let address = self.zookeeper.clone()?;
        Some(coordination::session::ZkConfig {
            address,
            session_timeout: self.zookeeper_session,
            auth: self.zookeeper_auth.clone(),
        })
    }

    /// The credentials every Redis connection sends.
    pub fn redis_auth(&self) -> RedisAuth {
        RedisAuth {
            username: self.redis_username.clone(),
            password: self.redis_password.clone(),
        }
    }

    /// How to reach the data nodes.
    pub fn node_dial(&self) -> Dial {
        Dial {
            timeout: self.timeouts.node,
            auth: self.redis_auth(),
            bulk_connections: self.rebalance.bulk_connections,
        }
    }

    /// How to reach the index.
    pub fn index_dial(&self) -> Dial {
        Dial {
            timeout: self.timeouts.index,
            auth: self.redis_auth(),
            bulk_connections: 0,
        }
    }

    /// What is wrong with the credentials or this balancer's id, if
    /// anything.
    pub(super) fn credentials_problem(&self) -> Option<String> {
        let id = self.balancer_id();
        if !is_balancer_id(&id) {
            return Some(format!(
                "the balancer id {id:?} must be printable ASCII without spaces or `!`: it ends \
                 every version this balancer stamps, and `!` marks a TTL change's version \
                 (src/hlc.rs)"
            ));
        }
        if self
            .redis_password
            .as_ref()
            .is_some_and(|p| p.expose().is_empty())
        {
            return Some("redis_password must not be empty".into());
        }
        if self.redis_username.is_some() && self.redis_password.is_none() {
            return Some("redis_username needs redis_password".into());
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|token| !is_bearer_token(token.expose()))
        {
            return Some(
                "admin_token must be a bearer token: one or more of A-Z a-z 0-9 - . _ ~ + /, \
                 then any = padding (RFC 6750), as a client sends it"
                    .into(),
            );
        }
        let auth = self.zookeeper_auth.as_ref()?;
        coordination::session::auth_problem(auth.expose())
    }

    /// This balancer's id: the configured one, else one naming this host,
    /// so `listen = "0.0.0.0:3100"` on two hosts gives two ids.
    pub fn balancer_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            default_id(host.trim(), self.listen)
        })
    }
}

/// Whether `token` can be sent as `Authorization: Bearer <token>`: RFC
/// 6750's `b64token`, so no client has to escape it and none can send a
/// token that only differs from it in spacing.
fn is_bearer_token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Whether `id` can end a version stamp: each byte sorts above the `!`
/// that marks a TTL change (see [`crate::hlc`]).
fn is_balancer_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic() && b != b'!')
}

/// `balancer-<host>-<listen>` (`localhost` when the host name is unknown).
fn default_id(host: &str, listen: std::net::SocketAddr) -> String {
    let host = if host.is_empty() { "localhost" } else { host };
    format!("balancer-{host}-{listen}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked() {
        use crate::config::Secret;
        let mut c = Config {
            redis_username: Some("dlb".into()),
            ..Config::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("needs redis_password")
        );
        c.redis_password = Some(Secret::new("pw"));
        c.validate().unwrap();
        for bad in ["nocolon", ":pw", "user:"] {
            c.zookeeper_auth = Some(Secret::new(bad));
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("user:password"), "{bad}: {err}");
        }
        c.zookeeper_auth = Some(Secret::new("dlb:s3cr:et"));
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("s3cr"), "a password is logged");
        for bad in ["", "=", "two words", "tab\there", "qu\"ote", "caf\u{e9}"] {
            c.admin_token = Some(Secret::new(bad));
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("admin_token"), "{bad:?}: {err}");
        }
        for good in ["s3cr3t-T0ken", "a.b_c~d+e/f==", "Zm9vYmFy"] {
            c.admin_token = Some(Secret::new(good));
            c.validate().unwrap();
            assert!(
                !format!("{c:?}").contains(good),
                "the admin token is logged"
            );
        }
    }

    #[test]
    fn a_balancer_id_sorts_above_the_ttl_change_mark() {
        let mut c = Config::default();
        for bad in ["", "two words", "bang!", "caf\u{e9}", "tab\there"] {
            c.id = Some(bad.into());
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("balancer id"), "{bad:?}: {err}");
        }
        for good in ["b1", "balancer-web1-[::1]:3100", "a+b/c~d_e"] {
            c.id = Some(good.into());
            c.validate().unwrap();
        }
    }

    #[test]
    fn the_default_id_names_the_host() {
        let listen = "0.0.0.0:3100".parse().unwrap();
        assert_eq!(default_id("web1", listen), "balancer-web1-0.0.0.0:3100");
        assert_ne!(default_id("web1", listen), default_id("web2", listen));
        assert_eq!(default_id("", listen), "balancer-localhost-0.0.0.0:3100");
    }
}
