//! The registry of emulated APIs: what the `EmulatedApi` trait promises of every entry.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::APIS;
use crate::sandbox::seeding::Seeding;
use crate::sandbox::state::Shared;
use crate::sandbox::{SandboxConfig, registry};

fn apis() -> Vec<Arc<dyn crate::sandbox::api::EmulatedApi>> {
    let shared = Arc::new(Shared::new(
        SandboxConfig::default(),
        "http://127.0.0.1:9".to_owned(),
    ));
    registry(&shared)
}

#[test]
fn every_api_is_registered_once_under_its_public_name() {
    let names: Vec<&str> = apis().iter().map(|api| api.name()).collect();
    assert_eq!(names, APIS);
}

#[test]
fn every_api_names_its_own_credentials() {
    let mut seen = BTreeSet::new();
    for api in apis() {
        let credentials = api.credentials();
        assert!(!credentials.is_empty(), "{}", api.name());
        for (variable, value) in credentials {
            assert!(!value.is_empty(), "{variable}");
            assert!(seen.insert(variable), "{variable} named twice");
        }
    }
}

#[test]
fn seeding_again_resets_to_the_same_data() {
    let seeding = Seeding::new(11, 1_790_000_000);
    for api in apis() {
        api.seed(&seeding);
        let first = api.snapshot();
        api.seed(&Seeding {
            seed: 12,
            ..seeding
        });
        assert_ne!(
            first,
            api.snapshot(),
            "{}: another seed, other data",
            api.name()
        );
        api.seed(&seeding);
        assert_eq!(first, api.snapshot(), "{}", api.name());
        assert!(
            api.settled().is_empty(),
            "{}: nothing retried yet",
            api.name()
        );
    }
}
