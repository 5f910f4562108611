//! The host ABIs a policy module speaks. This is the only place with `unsafe` code; policy crates
//! use [`export_policy!`](crate::export_policy) and forbid `unsafe` themselves.

#[cfg(target_arch = "wasm32")]
pub mod wapc;

/// Exports a [`Rule`](crate::rule::Rule) as a Kubewarden waPC policy module (`__guest_call`,
/// `wapc_init`). Does nothing when not compiling for wasm32, so policy crates also build natively.
#[macro_export]
macro_rules! export_policy {
    ($rule:ty) => {
        /// waPC entry point: the host calls this for every operation.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn __guest_call(op_len: i32, req_len: i32) -> i32 {
            $crate::abi::wapc::guest_call::<$rule>(op_len, req_len)
        }

        /// waPC initialisation: nothing to register, `__guest_call` dispatches by name.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn wapc_init() {}
    };
}
