//! Every policy's `validate` (the waPC ABI's admission request reader and pipeline) on any bytes,
//! with `NoHost`: no panic, the JSON answer reads back as the same answer, a rejection says why.
//! When the payload is a JSON object, its `request` and `settings` are also evaluated through the
//! Gatekeeper ABI (`{"review", "parameters"}`), which must come to the same decision.
#![no_main]

use custody_fuzz::{check_abis_agree, check_validate_json, POLICIES};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    for p in &POLICIES {
        check_validate_json(p, data);
    }
    if let Ok(Value::Object(mut payload)) = serde_json::from_slice::<Value>(data) {
        let request = payload.remove("request").unwrap_or(Value::Null);
        let settings = payload.remove("settings").unwrap_or(Value::Null);
        for p in &POLICIES {
            check_abis_agree(p, &request, &settings, true);
        }
    }
});
