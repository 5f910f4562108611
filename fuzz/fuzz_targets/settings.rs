//! Every policy's `validate_settings` on any bytes: no panic, the JSON answer reads back as the
//! same answer, and settings declared valid are usable: a Pod request evaluated with them, through
//! either ABI, is never refused for its settings, and both ABIs agree on the decision.
#![no_main]

use custody_fuzz::{check_abis_agree, pod_request, POLICIES};
use custody_sdk::policy::SettingsValidation;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const IMAGES: [&str; 5] = [
    "nginx",
    "nginx:latest",
    "registry.local:5000/team/app:dev",
    "ghcr.io/org/app:1.0@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "quay.io/org/tool@sha512:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
];

fuzz_target!(|data: &[u8]| {
    for p in &POLICIES {
        let answer = (p.validate_settings)(data);
        let read: SettingsValidation = serde_json::from_slice(&(p.validate_settings_json)(data))
            .unwrap_or_else(|e| panic!("{}: validate_settings_json is not an answer: {e}", p.name));
        assert_eq!(read, answer, "{}", p.name);
        assert_eq!(
            answer.valid,
            answer.message.is_none(),
            "{}: {answer:?}",
            p.name
        );
        if !answer.valid {
            continue;
        }
        let settings: Value = serde_json::from_slice(data).expect("valid settings are JSON");
        let request = pod_request(&IMAGES);
        let payload =
            serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
        let response = (p.validate)(&payload);
        if let Some(message) = &response.message {
            assert!(
                !message.starts_with("invalid settings"),
                "{}: valid settings refused at evaluation: {message}",
                p.name
            );
        }
        check_abis_agree(p, &request, &settings, true);
    }
});
