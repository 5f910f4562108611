//! The host ABIs a policy module speaks. This is the only place with `unsafe` code, and the one
//! place where a build's ABI is chosen; policy crates use [`export_policy!`](crate::export_policy)
//! (other modules [`export_operations!`](crate::export_operations)), forbid `unsafe` themselves and
//! never name an ABI.
//!
//! **The target selects the ABI** (the `cfg`s below, nowhere else):
//! - `wasm32-wasip1` (`target_os = "wasi"`): waPC, for Kubewarden's `kubewarden-wapc` mode, with
//!   the WASI clock;
//! - `wasm32-unknown-unknown` (`target_os = "unknown"`): the OPA wasm ABI, for Gatekeeper-mode
//!   hosts, linked with `--import-memory` and a 64 KiB stack (`.cargo/config.toml`); no clock;
//! - any other target (native tests, the CLI, benchmarks): no exports; the rule is called through
//!   [`policy`](crate::policy) with a [`Host`](crate::Host) the caller supplies.
//!
//! A third binding (a `wasm-bindgen` build of the same rules for JavaScript) is added here too: a
//! module beside `wapc` and `opa`, and a feature of this crate that selects it on
//! `wasm32-unknown-unknown` in the `cfg`s below (`--features custody-sdk/js`), so that policy
//! crates do not change.

/// Whether the policy is evaluated where it can call host capabilities (Kubewarden's `oci`,
/// `crypto`...): never in the OPA-ABI build, whose hosts (Gatekeeper) give a module data, not
/// calls; natively, not during a Gatekeeper evaluation ([`policy::gatekeeper`](crate::policy::gatekeeper)),
/// so that the native rule answers as that build does. Policies read this to choose their
/// defaults and to refuse settings that need a host the evaluation does not have, without naming
/// an ABI.
pub fn host_capabilities() -> bool {
    !cfg!(all(target_arch = "wasm32", target_os = "unknown")) && !IN_GATEKEEPER.with(Cell::get)
}

std::thread_local! {
    static IN_GATEKEEPER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as a Gatekeeper evaluation: [`host_capabilities`] is `false` meanwhile.
pub(crate) fn as_gatekeeper<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_GATEKEEPER.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(IN_GATEKEEPER.with(|c| c.replace(true)));
    f()
}

use std::cell::Cell;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod opa;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
pub mod wapc;

/// Exports plain waPC operations (`__guest_call`, `wapc_init`) handled by `$handler`, a
/// `fn(operation: &str, payload: &[u8]) -> Result<Vec<u8>, String>`: `Ok` is the answer, `Err` the
/// waPC error (e.g. for an unknown operation). For modules that are not policies (test probes,
/// tools); a policy uses [`export_policy!`](crate::export_policy). waPC only: does nothing for
/// another target.
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[macro_export]
macro_rules! export_operations {
    ($handler:path) => {
        /// waPC entry point: the host calls this for every operation.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn __guest_call(op_len: i32, req_len: i32) -> i32 {
            $crate::abi::wapc::guest_call_operations(op_len, req_len, $handler)
        }

        /// waPC initialisation: nothing to register, `__guest_call` dispatches by name.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn wapc_init() {}
    };
}

/// See the waPC [`export_operations!`]: nothing to export for this target.
#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
#[macro_export]
macro_rules! export_operations {
    ($handler:path) => {};
}

/// Exports a [`Rule`](crate::rule::Rule) as a policy module in the ABI the target selects (see
/// [the module](self)): here waPC (`__guest_call`, `wapc_init`).
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[macro_export]
macro_rules! export_policy {
    ($rule:ty) => {
        /// waPC entry point: the host calls this for every operation.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn __guest_call(op_len: i32, req_len: i32) -> i32 {
            $crate::abi::wapc::guest_call::<$rule>(op_len, req_len)
        }

        /// waPC initialisation: nothing to register, `__guest_call` dispatches by name.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn wapc_init() {}
    };
}

/// Exports a [`Rule`](crate::rule::Rule) as a policy module in the ABI the target selects (see
/// [the module](self)): here the OPA wasm ABI (`eval`, `opa_eval`, `opa_malloc`, ... and a bump
/// allocator whose top is the ABI's heap pointer).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[macro_export]
macro_rules! export_policy {
    ($rule:ty) => {
        /// The rule the OPA exports evaluate.
        type OpaRule = $rule;

        #[allow(unsafe_code, non_upper_case_globals, missing_docs)]
        mod opa_abi {
            use super::OpaRule;
            use $crate::abi::opa;

            #[global_allocator]
            static ALLOCATOR: opa::BumpAllocator = opa::BumpAllocator;

            // Exported as globals holding their addresses; `custody annotate` sets the values.
            #[no_mangle]
            pub static opa_wasm_abi_version: i32 = opa::ABI_VERSION;
            #[no_mangle]
            pub static opa_wasm_abi_minor_version: i32 = opa::ABI_MINOR_VERSION;

            #[no_mangle]
            pub extern "C" fn eval(ctx: i32) -> i32 {
                opa::eval::<OpaRule>(ctx)
            }
            #[no_mangle]
            pub extern "C" fn opa_eval(
                _reserved: i32,
                entrypoint: i32,
                data: i32,
                input: i32,
                input_len: i32,
                heap_ptr: i32,
                _format: i32,
            ) -> i32 {
                opa::opa_eval::<OpaRule>(entrypoint, data, input, input_len, heap_ptr)
            }
            #[no_mangle]
            pub extern "C" fn builtins() -> i32 {
                opa::builtins()
            }
            #[no_mangle]
            pub extern "C" fn entrypoints() -> i32 {
                opa::entrypoints()
            }
            #[no_mangle]
            pub extern "C" fn opa_eval_ctx_new() -> i32 {
                opa::eval_ctx_new()
            }
            #[no_mangle]
            pub extern "C" fn opa_eval_ctx_set_input(ctx: i32, value: i32) {
                opa::eval_ctx_set_input(ctx, value)
            }
            #[no_mangle]
            pub extern "C" fn opa_eval_ctx_set_data(ctx: i32, value: i32) {
                opa::eval_ctx_set_data(ctx, value)
            }
            #[no_mangle]
            pub extern "C" fn opa_eval_ctx_set_entrypoint(ctx: i32, entrypoint: i32) {
                opa::eval_ctx_set_entrypoint(ctx, entrypoint)
            }
            #[no_mangle]
            pub extern "C" fn opa_eval_ctx_get_result(ctx: i32) -> i32 {
                opa::eval_ctx_get_result(ctx)
            }
            #[no_mangle]
            pub extern "C" fn opa_malloc(size: i32) -> i32 {
                opa::malloc(size)
            }
            #[no_mangle]
            pub extern "C" fn opa_free(_addr: i32) {
                // Freed by the heap reset (`opa_heap_ptr_set`).
            }
            #[no_mangle]
            pub extern "C" fn opa_json_parse(text: i32, len: i32) -> i32 {
                opa::json_parse(text, len)
            }
            #[no_mangle]
            pub extern "C" fn opa_json_dump(value: i32) -> i32 {
                opa::json_dump(value)
            }
            #[no_mangle]
            pub extern "C" fn opa_heap_ptr_get() -> i32 {
                opa::heap_ptr_get()
            }
            #[no_mangle]
            pub extern "C" fn opa_heap_ptr_set(addr: i32) {
                opa::heap_ptr_set(addr)
            }
        }
    };
}

/// Exports a [`Rule`](crate::rule::Rule) as a policy module in the ABI the target selects (see
/// [the module](self)): nothing for a target that is not a policy module's (native builds of the
/// policy crates, for their tests and benchmarks).
#[cfg(not(all(target_arch = "wasm32", any(target_os = "wasi", target_os = "unknown"))))]
#[macro_export]
macro_rules! export_policy {
    ($rule:ty) => {};
}
