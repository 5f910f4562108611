//! The guest side of the OPA wasm ABI, version 1.2, in Gatekeeper's contract: what Kubewarden's
//! `gatekeeper` execution mode and the OPA wasm SDKs load.
//!
//! - Memory is imported (`env.memory`, linked with `--import-memory`, one 64 KiB stack page plus
//!   static data: under the 5 pages hosts provide) and grows when the heap needs it.
//! - The heap is a bump allocator whose top is `opa_heap_ptr_get`/`opa_heap_ptr_set`: hosts save it
//!   after loading `data` and set it back before each evaluation, which frees everything the
//!   evaluation allocated. `free` only steps back over the newest block (and `realloc` grows the
//!   newest block in place), which is what serde's buffers mostly need. So nothing allocated during
//!   an evaluation may be kept for the next one: code built for this ABI keeps
//!   no heap data in statics (no `OnceLock` caches).
//! - Values (what `opa_json_parse` returns and `opa_json_dump` reads) are JSON texts behind a small
//!   header; the rule reads the input text directly with serde.
//! - One entrypoint, id 0, `custody/violation`; no builtins (`builtins()` is `{}`).
//!
//! The two ABI version globals are written by `custody annotate`: stable Rust cannot define a wasm
//! global, so the module exports the statics below (whose exported globals hold their addresses)
//! and the annotation step sets those globals to the values.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::arch::wasm32;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::host::InventoryHost;
use crate::policy;
use crate::rule::Rule;

/// `opa_wasm_abi_version`.
pub const ABI_VERSION: i32 = 1;
/// `opa_wasm_abi_minor_version`: 1.2, the one-shot `opa_eval` included.
pub const ABI_MINOR_VERSION: i32 = 2;
/// The entrypoint map `entrypoints()` returns.
const ENTRYPOINTS: &[u8] = br#"{"custody/violation":0}"#;

const PAGE: u64 = 65536;

extern "C" {
    /// Where the linker put the end of static data and the stack: the heap starts here.
    static __heap_base: u8;
}

#[link(wasm_import_module = "env")]
extern "C" {
    /// Reports a fatal error to the host (which traps); `message` is NUL-terminated.
    #[link_name = "opa_abort"]
    fn host_abort(message: *const u8);
}

/// The heap's top; 0 until first used (then `__heap_base`).
static HEAP_TOP: AtomicUsize = AtomicUsize::new(0);

fn heap_top() -> usize {
    match HEAP_TOP.load(Ordering::Relaxed) {
        // Only the address of the linker symbol is taken, never its contents.
        0 => std::ptr::addr_of!(__heap_base) as usize,
        top => top,
    }
}

fn set_heap_top(top: usize) {
    HEAP_TOP.store(top, Ordering::Relaxed);
}

/// The size of memory in bytes (a u64: 65 536 pages of 64 KiB do not fit a wasm32 usize).
fn memory_bytes() -> u64 {
    wasm32::memory_size(0) as u64 * PAGE
}

/// `len` bytes of memory at `start`, or `None` when they are not all inside memory.
fn memory_slice(start: usize, len: usize) -> Option<&'static [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: the range lies inside linear memory, all of which is readable in wasm; callers only
    // pass ranges the host wrote or that hold values, which nothing mutates.
    (start as u64 + len as u64 <= memory_bytes())
        .then(|| unsafe { std::slice::from_raw_parts(start as *const u8, len) })
}

/// Grows memory so that `end` is addressable; false when the host refuses.
fn reserve(end: usize) -> bool {
    let have = memory_bytes();
    let end = end as u64;
    if end <= have {
        return true;
    }
    let pages = (end - have).div_ceil(PAGE);
    usize::try_from(pages).is_ok_and(|pages| wasm32::memory_grow(0, pages) != usize::MAX)
}

/// A new block of `size` bytes aligned to `align` at the top of the heap, or null.
fn bump(size: usize, align: usize) -> *mut u8 {
    let Some(start) = heap_top().checked_next_multiple_of(align) else {
        return std::ptr::null_mut();
    };
    match start.checked_add(size) {
        Some(end) if reserve(end) => {
            set_heap_top(end);
            start as *mut u8
        }
        _ => std::ptr::null_mut(),
    }
}

/// The allocator of OPA-ABI modules (see the module documentation).
#[derive(Debug)]
pub struct BumpAllocator;

// SAFETY: blocks never overlap: each starts at or above the top and the top moves past it; a block
// is only reused after it was freed (the newest, stepped back over) or after the host reset the
// heap, which by the ABI ends the lifetime of everything above the reset point.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if (ptr as usize).checked_add(layout.size()) == Some(heap_top()) {
            set_heap_top(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start.checked_add(layout.size()) == Some(heap_top()) {
            // The newest block: resize it where it is.
            return match start.checked_add(new_size) {
                Some(end) if reserve(end) => {
                    set_heap_top(end);
                    ptr
                }
                _ => std::ptr::null_mut(),
            };
        }
        let new = bump(new_size, layout.align());
        if !new.is_null() {
            // SAFETY: both blocks are live and do not overlap (the new one is above the top).
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

/// Marks a value block, so that a stray address is recognised as not a value.
const VALUE_MAGIC: u32 = 0x4a53_4f4e; // "JSON"
/// Marks an evaluation context.
const CTX_MAGIC: u32 = 0x4354_5854; // "CTXT"

/// A value: a JSON text in the heap.
#[repr(C)]
struct JsonValue {
    magic: u32,
    text: *const u8,
    len: usize,
}

/// An evaluation context (`opa_eval_ctx_new`).
#[repr(C)]
struct EvalCtx {
    magic: u32,
    input: i32,
    data: i32,
    entrypoint: i32,
    result: i32,
}

/// Moves `value` to the heap and answers its address (the heap reset frees it).
fn leak<T>(value: T) -> i32 {
    Box::into_raw(Box::new(value)) as i32
}

/// A value holding `text`.
fn new_value(text: Vec<u8>) -> i32 {
    let text: &'static mut [u8] = Vec::leak(text);
    leak(JsonValue {
        magic: VALUE_MAGIC,
        text: text.as_ptr(),
        len: text.len(),
    })
}

/// Aborts the evaluation through the host with `message`.
fn abort(message: &str) -> ! {
    let mut text = message.as_bytes().to_vec();
    text.push(0);
    // SAFETY: `text` is NUL-terminated and outlives the call.
    unsafe { host_abort(text.as_ptr()) };
    // The host traps in `opa_abort`; should it return, stop here.
    wasm32::unreachable()
}

/// Whether `addr` could hold a `T`: non-null, aligned and inside memory.
fn in_memory<T>(addr: i32) -> bool {
    let addr = addr as u32 as usize;
    addr != 0
        && addr.is_multiple_of(std::mem::align_of::<T>())
        && addr as u64 + std::mem::size_of::<T>() as u64 <= memory_bytes()
}

/// The text of the value at `addr`; aborts when `addr` is not a value.
fn value_text(addr: i32) -> &'static [u8] {
    if in_memory::<JsonValue>(addr) {
        // SAFETY: the address is aligned and inside memory; the magic number tells a value
        // header apart from other bytes before its fields are trusted.
        let value = unsafe { &*(addr as u32 as usize as *const JsonValue) };
        if value.magic == VALUE_MAGIC {
            if let Some(text) = memory_slice(value.text as usize, value.len) {
                return text;
            }
        }
    }
    abort(&format!(
        "address {addr} is not a value made by this module"
    ))
}

/// The context at `addr`; aborts when `addr` is not one.
fn ctx(addr: i32) -> &'static mut EvalCtx {
    if in_memory::<EvalCtx>(addr) {
        // SAFETY: as in `value_text`; the host is single-threaded and holds no other reference.
        let ctx = unsafe { &mut *(addr as u32 as usize as *mut EvalCtx) };
        if ctx.magic == CTX_MAGIC {
            return ctx;
        }
    }
    abort(&format!(
        "address {addr} is not an evaluation context made by this module"
    ))
}

/// Evaluates the entrypoint on an input text, with the `data` document's text (empty when the
/// host set none); the result set as JSON. Rules read cluster objects from `data.inventory`.
fn evaluate<R: Rule>(entrypoint: i32, input: &[u8], data: &[u8]) -> Vec<u8> {
    if entrypoint != 0 {
        abort(&format!(
            "no entrypoint {entrypoint}: this module has one, 0 (custody/violation)"
        ));
    }
    policy::gatekeeper_json::<R>(input, &mut InventoryHost::new(data))
}

/// The text of the value at `addr`, or nothing for address 0 (unset).
fn optional_value_text(addr: i32) -> &'static [u8] {
    if addr == 0 {
        &[]
    } else {
        value_text(addr)
    }
}

// The exports, each called by the macro's `#[no_mangle]` wrappers.

/// `opa_malloc(size) -> addr` (0 when memory cannot grow).
pub fn malloc(size: i32) -> i32 {
    bump(size as u32 as usize, 8) as i32
}

/// `opa_heap_ptr_get() -> addr`.
pub fn heap_ptr_get() -> i32 {
    heap_top() as i32
}

/// `opa_heap_ptr_set(addr)`.
pub fn heap_ptr_set(addr: i32) {
    set_heap_top(addr as u32 as usize);
}

/// `opa_json_parse(text, len) -> value` (0 when the text is not JSON).
pub fn json_parse(text: i32, len: i32) -> i32 {
    match memory_slice(text as u32 as usize, len as u32 as usize) {
        Some(bytes) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            new_value(bytes.to_vec())
        }
        _ => 0,
    }
}

/// `opa_json_dump(value) -> text`: the value as NUL-terminated JSON.
pub fn json_dump(value: i32) -> i32 {
    let text = value_text(value);
    let mut out = Vec::with_capacity(text.len() + 1);
    out.extend_from_slice(text);
    out.push(0);
    Vec::leak(out).as_ptr() as i32
}

/// `builtins() -> value`: none.
pub fn builtins() -> i32 {
    new_value(b"{}".to_vec())
}

/// `entrypoints() -> value`.
pub fn entrypoints() -> i32 {
    new_value(ENTRYPOINTS.to_vec())
}

/// `opa_eval_ctx_new() -> ctx`.
pub fn eval_ctx_new() -> i32 {
    leak(EvalCtx {
        magic: CTX_MAGIC,
        input: 0,
        data: 0,
        entrypoint: 0,
        result: 0,
    })
}

/// `opa_eval_ctx_set_input(ctx, value)`.
pub fn eval_ctx_set_input(addr: i32, value: i32) {
    ctx(addr).input = value;
}

/// `opa_eval_ctx_set_data(ctx, value)`: the `data` document (cluster objects in `data.inventory`).
pub fn eval_ctx_set_data(addr: i32, value: i32) {
    ctx(addr).data = value;
}

/// `opa_eval_ctx_set_entrypoint(ctx, id)`.
pub fn eval_ctx_set_entrypoint(addr: i32, entrypoint: i32) {
    ctx(addr).entrypoint = entrypoint;
}

/// `opa_eval_ctx_get_result(ctx) -> value`.
pub fn eval_ctx_get_result(addr: i32) -> i32 {
    ctx(addr).result
}

/// `eval(ctx) -> 0`: evaluates; the result set is then at `opa_eval_ctx_get_result`. An unset
/// input reads as an empty document, which is a violation.
pub fn eval<R: Rule>(addr: i32) -> i32 {
    let ctx = ctx(addr);
    let input = optional_value_text(ctx.input);
    let data = optional_value_text(ctx.data);
    let result = evaluate::<R>(ctx.entrypoint, input, data);
    ctx.result = new_value(result);
    0
}

/// `opa_eval(reserved, entrypoint, data, input, input_len, heap_ptr, format) -> text`: the
/// one-shot evaluation of ABI 1.2. The host wrote the input text below `heap_ptr`; the result set
/// comes back as NUL-terminated JSON (the only format custody produces, whatever `format` asks).
pub fn opa_eval<R: Rule>(
    entrypoint: i32,
    data: i32,
    input: i32,
    input_len: i32,
    heap_ptr: i32,
) -> i32 {
    heap_ptr_set(heap_ptr);
    // A range outside memory reads as no input, which is a violation.
    let input = memory_slice(input as u32 as usize, input_len as u32 as usize).unwrap_or_default();
    let data = optional_value_text(data);
    let mut result = evaluate::<R>(entrypoint, input, data);
    result.push(0);
    Vec::leak(result).as_ptr() as i32
}
