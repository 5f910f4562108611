//! A fresh instance per request from a pre-instantiated module (`PolicyPre`, as Kubewarden's
//! policy server rehydrates one for each admission) answers as an instance made from scratch, in
//! both builds, and one module prepared once serves any number of instances.

use custody_host::{Host, Limits, NoCapabilities, PolicyInstance, PolicyPre};
use custody_host_tests::{fixtures, gatekeeper, policies, Loaded};

#[test]
fn fresh_instances_from_a_prepared_module_answer_as_new_ones() {
    for &policy in policies() {
        for name in [policy.to_owned(), gatekeeper(policy)] {
            let loaded = Loaded::policy(&name);
            let pre = PolicyPre::new(&loaded.host, &loaded.module).expect("prepare");
            assert_eq!(pre.abi(), loaded.module.abi(), "{name}");
            for fixture in fixtures(policy)
                .into_iter()
                .filter(|f| f.expected.capabilities.is_none())
                .take(5)
            {
                let answer = |mut instance: PolicyInstance| {
                    instance
                        .validate(&fixture.request, &fixture.expected.settings)
                        .map(|answer| answer.accepted)
                        .map_err(|e| e.to_string())
                };
                let fresh =
                    PolicyInstance::from_pre(&loaded.host, &pre, Box::new(fixture.capabilities()))
                        .expect("instantiate");
                let new = PolicyInstance::new(
                    &loaded.host,
                    &loaded.module,
                    Box::new(fixture.capabilities()),
                )
                .expect("instantiate");
                assert_eq!(answer(fresh), answer(new), "{name}: {}", fixture.name);
            }
        }
    }
}

#[test]
fn a_module_prepared_by_another_host_is_refused() {
    let loaded = Loaded::policy("ban-latest");
    let pre = PolicyPre::new(&loaded.host, &loaded.module).expect("prepare");
    let other = Host::new(Limits::default()).expect("host");
    let error = PolicyInstance::from_pre(&other, &pre, Box::new(NoCapabilities))
        .expect_err("another engine");
    assert!(error.to_string().contains("another host"), "{error}");
}
