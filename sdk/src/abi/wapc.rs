//! The waPC guest side, as Kubewarden's `kubewarden-wapc` execution mode speaks it.
//!
//! Written against the protocol directly instead of through `wapc-guest`/`kubewarden-policy-sdk`:
//! the operations are dispatched by name with no registry, and the module stays small (see the
//! README's size table for what the SDK crates cost).
#![allow(unsafe_code)]

use crate::host::Host;
use crate::policy;
use crate::rule::Rule;

#[link(wasm_import_module = "wapc")]
extern "C" {
    fn __guest_request(op_ptr: *mut u8, ptr: *mut u8);
    fn __guest_response(ptr: *const u8, len: usize);
    fn __guest_error(ptr: *const u8, len: usize);
    fn __host_call(
        binding_ptr: *const u8,
        binding_len: usize,
        ns_ptr: *const u8,
        ns_len: usize,
        op_ptr: *const u8,
        op_len: usize,
        ptr: *const u8,
        len: usize,
    ) -> usize;
    fn __host_response(ptr: *mut u8);
    fn __host_response_len() -> usize;
    fn __host_error(ptr: *mut u8);
    fn __host_error_len() -> usize;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    /// WASI preview 1 `clock_time_get(id, precision, *time) -> errno`.
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> i32;
}

/// WASI's `realtime` clock id.
const CLOCK_REALTIME: u32 = 0;

/// The binding every Kubewarden host capability lives under.
const BINDING: &str = "kubewarden";

/// Host capabilities through `__host_call`.
#[derive(Debug, Default)]
pub(crate) struct WapcHost;

impl Host for WapcHost {
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        // SAFETY: every pointer/length pair describes a live slice borrowed for the whole call; the
        // host only reads them.
        let ok = unsafe {
            __host_call(
                BINDING.as_ptr(),
                BINDING.len(),
                namespace.as_ptr(),
                namespace.len(),
                operation.as_ptr(),
                operation.len(),
                payload.as_ptr(),
                payload.len(),
            )
        };
        if ok == 1 {
            // SAFETY: the host reports the length first and then writes exactly that many bytes.
            Ok(unsafe { read_host_buffer(__host_response_len(), |p| __host_response(p)) })
        } else {
            // SAFETY: as above, for the error buffer.
            let error = unsafe { read_host_buffer(__host_error_len(), |p| __host_error(p)) };
            Err(String::from_utf8_lossy(&error).into_owned())
        }
    }

    /// The WASI clock (`clock_time_get`), which Kubewarden's hosts provide. Called directly: std's
    /// `SystemTime::now` panics on a clock error, with a table of every WASI error name (3 KB).
    fn now_unix(&self) -> Option<i64> {
        let mut nanos: u64 = 0;
        // SAFETY: `nanos` is a live, aligned u64 the host writes the time into.
        let errno = unsafe { clock_time_get(CLOCK_REALTIME, 1_000_000_000, &mut nanos) };
        if errno != 0 {
            return None;
        }
        i64::try_from(nanos / 1_000_000_000).ok()
    }
}

/// Reads a buffer of `len` bytes that `fill` asks the host to write.
///
/// # Safety
/// `fill` must write at most `len` bytes at the pointer it is given.
unsafe fn read_host_buffer(len: usize, fill: impl FnOnce(*mut u8)) -> Vec<u8> {
    let mut buf = Vec::with_capacity(len);
    fill(buf.as_mut_ptr());
    // SAFETY: the host wrote `len` bytes into the reserved capacity.
    unsafe { buf.set_len(len) };
    buf
}

/// `__guest_call` of a policy: the Kubewarden operations (`validate`, `validate_settings`,
/// `protocol_version`) of rule `R`.
pub fn guest_call<R: Rule>(op_len: i32, req_len: i32) -> i32 {
    guest_call_with(op_len, req_len, |op, payload| match op {
        b"validate" => Ok(policy::validate_json::<R>(payload, &mut WapcHost)),
        b"validate_settings" => Ok(policy::validate_settings_json::<R>(payload)),
        b"protocol_version" => Ok(br#""v1""#.to_vec()),
        other => Err(unknown_operation(other)),
    })
}

/// `__guest_call` of a module exporting plain operations (see
/// [`export_operations!`](crate::export_operations)): `handler` gets the operation name and its
/// payload, and its `Ok` is the answer, its `Err` the waPC error.
pub fn guest_call_operations(
    op_len: i32,
    req_len: i32,
    handler: fn(&str, &[u8]) -> Result<Vec<u8>, String>,
) -> i32 {
    guest_call_with(op_len, req_len, |op, payload| {
        match std::str::from_utf8(op) {
            Ok(op) => handler(op, payload),
            Err(_) => Err(unknown_operation(op)),
        }
    })
}

fn unknown_operation(op: &[u8]) -> String {
    format!("unknown operation {:?}", String::from_utf8_lossy(op))
}

/// Fetches the operation and its payload the host announced, runs `handler` on them, answers.
fn guest_call_with(
    op_len: i32,
    req_len: i32,
    handler: impl FnOnce(&[u8], &[u8]) -> Result<Vec<u8>, String>,
) -> i32 {
    let (Ok(op_len), Ok(req_len)) = (usize::try_from(op_len), usize::try_from(req_len)) else {
        return respond(Err("negative operation or payload length".into()));
    };
    let mut op = Vec::with_capacity(op_len);
    let mut payload = Vec::with_capacity(req_len);
    // SAFETY: both buffers have the capacity the host announced; the host writes exactly that many
    // bytes into each before returning.
    unsafe {
        __guest_request(op.as_mut_ptr(), payload.as_mut_ptr());
        op.set_len(op_len);
        payload.set_len(req_len);
    }
    respond(handler(&op, &payload))
}

fn respond(answer: Result<Vec<u8>, String>) -> i32 {
    match answer {
        Ok(bytes) => {
            // SAFETY: the host copies `len` bytes from `ptr` during the call.
            unsafe { __guest_response(bytes.as_ptr(), bytes.len()) };
            1
        }
        Err(message) => {
            // SAFETY: as above.
            unsafe { __guest_error(message.as_ptr(), message.len()) };
            0
        }
    }
}
