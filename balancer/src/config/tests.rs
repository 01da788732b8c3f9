//! The configuration tree's parsing, defaults and checks.

use super::*;

#[test]
fn empty_file_is_the_default() {
    assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    Config::default().validate().unwrap();
}

#[test]
fn example_file_shows_the_defaults() {
    let example = Config::from_toml_str(include_str!("../../balancer.example.toml")).unwrap();
    assert_eq!(example, Config::default());
}

#[test]
fn parses_nodes_and_choices() {
    let c = Config::from_toml_str(
        r#"
        nodes = ["a=127.0.0.1:7000", "127.0.0.1:7001"]
        [placement]
        choices = "all"
        "#,
    )
    .unwrap();
    assert_eq!(c.nodes[0].id, "a");
    assert_eq!(c.nodes[1].id, "127.0.0.1:7001");
    assert_eq!(c.placement.choices, Choices::All);
    let c = Config::from_toml_str("[placement]\nchoices = 3").unwrap();
    assert_eq!(
        c.placement.choices,
        Choices::Top(NonZeroUsize::new(3).unwrap())
    );
}

#[test]
fn rejects_bad_values() {
    assert!(Config::from_toml_str("[placement]\nchoices = 0").is_err());
    assert!(Config::from_toml_str("bogus = 1").is_err());
    let mut c = Config::default();
    c.nodes.push(c.nodes[0].clone());
    assert!(c.validate().unwrap_err().to_string().contains("twice"));
    let c = Config {
        nodes: vec!["nope".parse().unwrap()],
        ..Config::default()
    };
    assert!(c.validate().is_err());
    let mut c = Config::default();
    c.timeouts.index_retry = Duration::ZERO;
    let err = c.validate().unwrap_err().to_string();
    assert!(
        err.contains("timeouts.index_retry_ms must be positive"),
        "{err}"
    );
    c.timeouts = Timeouts {
        shutdown_grace: Duration::ZERO,
        ..Timeouts::default()
    };
    c.validate().unwrap();
}

#[test]
fn a_rebalance_batch_that_cannot_fit_a_journal_entry_is_refused() {
    let c = Config::from_toml_str("[rebalance]\nbatch_keys = 1000").unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("journal entry"), "{err}");
}

#[test]
fn durations_keep_their_unit_in_the_file() {
    let c = Config::from_toml_str(
        "sample_interval_ms = 250\nnear_cache_max_lag_ms = 20\n[timeouts]\nnode_ms = 7\n\
         [replication]\ntombstone_ttl_secs = 3",
    )
    .unwrap();
    assert_eq!(c.sample_interval, Duration::from_millis(250));
    assert_eq!(c.near_cache_max_lag, Duration::from_millis(20));
    assert_eq!(c.timeouts.node, Duration::from_millis(7));
    assert_eq!(c.replication.tombstone_ttl, Duration::from_secs(3));
    // The field's own name is not a key: the unit must be written.
    assert!(Config::from_toml_str("[timeouts]\nnode = 7").is_err());
    assert!(Config::from_toml_str("[timeouts]\nnode_ms = -1").is_err());
}

#[test]
fn the_test_clock_offset_may_be_negative() {
    let c = Config::from_toml_str("[testing]\nclock_offset_ms = -300").unwrap();
    assert_eq!(c.testing.clock_offset_ms, -300);
    c.validate().unwrap();
}
