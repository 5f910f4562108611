//! Every policy's Gatekeeper entrypoint (`gatekeeper_json`, the OPA ABI's input document
//! `{"review": <AdmissionRequest>, "parameters": <settings>}`) on any bytes, with `NoHost`: no
//! panic, the result set is `[{"result": [...]}]` with messages. When the input is a JSON object,
//! its `review` and `parameters` also go through the waPC ABI, which must decide the same.
#![no_main]

use custody_fuzz::{check_abis_agree, check_gatekeeper_json, POLICIES};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    for p in &POLICIES {
        check_gatekeeper_json(p, data);
    }
    if let Ok(Value::Object(mut input)) = serde_json::from_slice::<Value>(data) {
        let review = input.remove("review").unwrap_or(Value::Null);
        let parameters = input.remove("parameters").unwrap_or(Value::Null);
        for p in &POLICIES {
            check_abis_agree(p, &review, &parameters, true);
        }
    }
});
