//! The host ABIs a policy module speaks. This is the only place with `unsafe` code; policy crates
//! use [`export_policy!`](crate::export_policy) (other modules [`export_operations!`](crate::export_operations))
//! and forbid `unsafe` themselves.
//!
//! One module carries one ABI. A policy crate builds:
//! - for Kubewarden's `kubewarden-wapc` mode (waPC): `--target wasm32-wasip1`;
//! - for Gatekeeper-mode hosts (OPA wasm ABI): `--target wasm32-unknown-unknown --features
//!   gatekeeper`, linked with `--import-memory` and a 64 KiB stack (`.cargo/config.toml`).

#[cfg(all(target_arch = "wasm32", feature = "gatekeeper"))]
pub mod opa;
#[cfg(all(target_arch = "wasm32", not(feature = "gatekeeper")))]
pub mod wapc;

/// Exports plain waPC operations (`__guest_call`, `wapc_init`) handled by `$handler`, a
/// `fn(operation: &str, payload: &[u8]) -> Result<Vec<u8>, String>`: `Ok` is the answer, `Err` the
/// waPC error (e.g. for an unknown operation). For modules that are not policies (test probes,
/// tools); a policy uses [`export_policy!`](crate::export_policy). waPC only (wasm32 without the
/// SDK's `gatekeeper` feature); does nothing when not compiling for wasm32.
#[macro_export]
macro_rules! export_operations {
    ($handler:path) => {
        /// waPC entry point: the host calls this for every operation.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn __guest_call(op_len: i32, req_len: i32) -> i32 {
            $crate::abi::wapc::guest_call_operations(op_len, req_len, $handler)
        }

        /// waPC initialisation: nothing to register, `__guest_call` dispatches by name.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn wapc_init() {}
    };
}

/// Exports a [`Rule`](crate::rule::Rule) as a policy module: waPC (`__guest_call`, `wapc_init`),
/// or with the policy crate's `gatekeeper` feature the OPA wasm ABI (`eval`, `opa_eval`,
/// `opa_malloc`, ... and a bump allocator whose top is the ABI's heap pointer). Does nothing when
/// not compiling for wasm32, so policy crates also build natively.
///
/// The policy crate's `gatekeeper` feature must enable `custody-sdk/gatekeeper`.
#[macro_export]
macro_rules! export_policy {
    ($rule:ty) => {
        /// waPC entry point: the host calls this for every operation.
        #[cfg(all(target_arch = "wasm32", not(feature = "gatekeeper")))]
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn __guest_call(op_len: i32, req_len: i32) -> i32 {
            $crate::abi::wapc::guest_call::<$rule>(op_len, req_len)
        }

        /// waPC initialisation: nothing to register, `__guest_call` dispatches by name.
        #[cfg(all(target_arch = "wasm32", not(feature = "gatekeeper")))]
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn wapc_init() {}

        /// The rule the OPA exports evaluate.
        #[cfg(all(target_arch = "wasm32", feature = "gatekeeper"))]
        type OpaRule = $rule;

        #[cfg(all(target_arch = "wasm32", feature = "gatekeeper"))]
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
