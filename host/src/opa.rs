//! The host side of the OPA wasm ABI (Kubewarden's `gatekeeper` / `opa` modes): the `env` imports,
//! and an evaluation the way Kubewarden's engine (burrego) drives it: a 5-page memory given to the
//! module, `data` loaded once, then per evaluation the heap reset, the input parsed, an evaluation
//! context, `eval`, and the result dumped as JSON.

use std::cell::Cell;
use std::collections::BTreeMap;

use wasmtime::{
    AsContextMut, Caller, Engine, Instance, Linker, Memory, MemoryType, Module, Store, TypedFunc,
};

use crate::wapc::{memory_and_state, GuestFault, WapcState};

/// The import module of the OPA ABI.
const ENV: &str = "env";

/// The pages of memory Kubewarden's engine and the npm SDK give a module (more if it asks more).
pub const MEMORY_PAGES: u64 = 5;

/// The memory an instance of `module` gets: what it asks for, at least [`MEMORY_PAGES`] pages
/// (within its maximum). Stored in the store's state, where the host functions find it.
fn memory(store: &mut Store<WapcState>, module: &Module) -> wasmtime::Result<Memory> {
    let wanted = module
        .imports()
        .find(|import| import.module() == ENV && import.name() == "memory")
        .and_then(|import| import.ty().memory().cloned());
    let (minimum, maximum) = wanted
        .as_ref()
        .map_or((0, None), |ty| (ty.minimum(), ty.maximum()));
    let pages = minimum.max(MEMORY_PAGES);
    let pages = maximum.map_or(pages, |maximum| pages.min(maximum));
    let memory = Memory::new(
        &mut *store,
        MemoryType::new(
            u32::try_from(pages)?,
            maximum.map(u32::try_from).transpose()?,
        ),
    )?;
    store.data_mut().memory = Some(memory);
    Ok(memory)
}

/// Defines the module's memory (`env.memory`, made by [`memory`] in `store`) in `linker`.
pub(crate) fn define_memory(
    linker: &mut Linker<WapcState>,
    store: &mut Store<WapcState>,
    module: &Module,
) -> wasmtime::Result<()> {
    let memory = memory(store, module)?;
    linker.define(&*store, ENV, "memory", memory)?;
    Ok(())
}

/// The linker that provides the `env` functions (not the memory, which belongs to one store: see
/// [`define_memory`]). No builtins are implemented: a module that calls one traps with a message
/// naming it.
pub(crate) fn functions(engine: &Engine) -> wasmtime::Result<Linker<WapcState>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(
        ENV,
        "opa_abort",
        |mut caller: Caller<'_, WapcState>, addr: i32| -> wasmtime::Result<()> {
            let (memory, _) = memory_and_state(&mut caller)?;
            let message = String::from_utf8_lossy(guest_cstr(memory, addr, usize::MAX)?);
            Err(GuestFault::Aborted(message.into_owned()).into())
        },
    )?;
    linker.func_wrap(
        ENV,
        "opa_println",
        |mut caller: Caller<'_, WapcState>, addr: i32| -> wasmtime::Result<()> {
            let (memory, state) = memory_and_state(&mut caller)?;
            let message = guest_cstr(memory, addr, usize::MAX)?;
            state.push_log(message);
            Ok(())
        },
    )?;
    let builtin = |id: i32| -> wasmtime::Result<i32> {
        Err(GuestFault::Protocol(format!(
            "the policy called builtin {id}, and this host provides none (`builtins()` must be {{}})"
        ))
        .into())
    };
    linker.func_wrap(ENV, "opa_builtin0", move |id: i32, _: i32| builtin(id))?;
    linker.func_wrap(ENV, "opa_builtin1", move |id: i32, _: i32, _: i32| {
        builtin(id)
    })?;
    linker.func_wrap(
        ENV,
        "opa_builtin2",
        move |id: i32, _: i32, _: i32, _: i32| builtin(id),
    )?;
    linker.func_wrap(
        ENV,
        "opa_builtin3",
        move |id: i32, _: i32, _: i32, _: i32, _: i32| builtin(id),
    )?;
    linker.func_wrap(
        ENV,
        "opa_builtin4",
        move |id: i32, _: i32, _: i32, _: i32, _: i32, _: i32| builtin(id),
    )?;
    Ok(linker)
}

/// The NUL-terminated string at `addr`, at most `limit` bytes before the NUL.
fn guest_cstr(memory: &[u8], addr: i32, limit: usize) -> Result<&[u8], GuestFault> {
    let start = addr as u32 as usize;
    let rest = memory.get(start..).ok_or(GuestFault::OutOfBounds {
        what: "string",
        ptr: start,
        len: 1,
        memory_len: memory.len(),
    })?;
    match rest.iter().position(|&b| b == 0) {
        Some(len) if len <= limit => Ok(rest.get(..len).unwrap_or_default()),
        Some(len) => Err(GuestFault::TooLarge {
            what: "result",
            len,
            limit,
        }),
        None => Err(GuestFault::Protocol(format!(
            "the string at address {start} has no terminating NUL inside memory"
        ))),
    }
}

/// An instantiated OPA-ABI module's exports and the state the evaluations share.
pub(crate) struct OpaGuest {
    eval: TypedFunc<i32, i32>,
    ctx_new: TypedFunc<(), i32>,
    ctx_set_input: TypedFunc<(i32, i32), ()>,
    ctx_set_data: TypedFunc<(i32, i32), ()>,
    ctx_set_entrypoint: TypedFunc<(i32, i32), ()>,
    ctx_get_result: TypedFunc<i32, i32>,
    malloc: TypedFunc<i32, i32>,
    json_parse: TypedFunc<(i32, i32), i32>,
    json_dump: TypedFunc<i32, i32>,
    heap_ptr_set: TypedFunc<i32, ()>,
    heap_ptr_get: TypedFunc<(), i32>,
    /// The heap pointer before `data`: where a new `data` document goes.
    heap_before_data: i32,
    /// `data` (`{}` until [`Self::set_data`]).
    data: Cell<i32>,
    /// The heap pointer after `data`: every evaluation starts here.
    heap_after_data: Cell<i32>,
    /// `opa_wasm_abi_minor_version`.
    pub(crate) minor_version: i32,
    /// `entrypoints()`: name to id.
    pub(crate) entrypoints: BTreeMap<String, i32>,
}

impl OpaGuest {
    /// Reads the exports, checks the ABI version, loads the entrypoints and an empty `data`.
    pub(crate) fn new(store: &mut Store<WapcState>, instance: &Instance) -> wasmtime::Result<Self> {
        let version = |store: &mut Store<WapcState>, name: &str| -> wasmtime::Result<i32> {
            instance
                .get_global(&mut *store, name)
                .and_then(|global| global.get(&mut *store).i32())
                .ok_or_else(|| {
                    GuestFault::Protocol(format!("the module exports no i32 global `{name}`"))
                        .into()
                })
        };
        let major = version(store, "opa_wasm_abi_version")?;
        if major != 1 {
            return Err(GuestFault::Protocol(format!(
                "the module speaks OPA wasm ABI version {major}; this host speaks version 1"
            ))
            .into());
        }
        let minor_version = version(store, "opa_wasm_abi_minor_version")?;
        let entrypoints_fn = instance.get_typed_func::<(), i32>(&mut *store, "entrypoints")?;
        let heap_ptr_get = instance.get_typed_func::<(), i32>(&mut *store, "opa_heap_ptr_get")?;
        let mut guest = OpaGuest {
            eval: instance.get_typed_func(&mut *store, "eval")?,
            ctx_new: instance.get_typed_func(&mut *store, "opa_eval_ctx_new")?,
            ctx_set_input: instance.get_typed_func(&mut *store, "opa_eval_ctx_set_input")?,
            ctx_set_data: instance.get_typed_func(&mut *store, "opa_eval_ctx_set_data")?,
            ctx_set_entrypoint: instance
                .get_typed_func(&mut *store, "opa_eval_ctx_set_entrypoint")?,
            ctx_get_result: instance.get_typed_func(&mut *store, "opa_eval_ctx_get_result")?,
            malloc: instance.get_typed_func(&mut *store, "opa_malloc")?,
            json_parse: instance.get_typed_func(&mut *store, "opa_json_parse")?,
            json_dump: instance.get_typed_func(&mut *store, "opa_json_dump")?,
            heap_ptr_set: instance.get_typed_func(&mut *store, "opa_heap_ptr_set")?,
            heap_ptr_get,
            heap_before_data: 0,
            data: Cell::new(0),
            heap_after_data: Cell::new(0),
            minor_version,
            entrypoints: BTreeMap::new(),
        };
        let entrypoints = entrypoints_fn.call(&mut *store, ())?;
        let entrypoints = guest.dump(store, entrypoints, usize::MAX)?;
        guest.entrypoints = serde_json::from_slice(&entrypoints).map_err(|e| {
            GuestFault::Protocol(format!("`entrypoints()` is not a map of names to ids: {e}"))
        })?;
        guest.heap_before_data = guest.heap_ptr_get.call(&mut *store, ())?;
        guest.set_data(store, b"{}")?;
        Ok(guest)
    }

    /// Loads the `data` document (JSON text) every later evaluation sees, in place of the last.
    pub(crate) fn set_data(
        &self,
        store: &mut Store<WapcState>,
        data: &[u8],
    ) -> wasmtime::Result<()> {
        self.heap_ptr_set.call(&mut *store, self.heap_before_data)?;
        self.data.set(self.load(store, data)?);
        self.heap_after_data
            .set(self.heap_ptr_get.call(&mut *store, ())?);
        Ok(())
    }

    /// Evaluates entrypoint `entrypoint` on an input document; answers the result set as JSON
    /// (at most `limit` bytes).
    pub(crate) fn evaluate(
        &self,
        store: &mut Store<WapcState>,
        entrypoint: i32,
        input: &[u8],
        limit: usize,
    ) -> wasmtime::Result<Vec<u8>> {
        self.heap_ptr_set
            .call(&mut *store, self.heap_after_data.get())?;
        let input = self.load(store, input)?;
        let ctx = self.ctx_new.call(&mut *store, ())?;
        self.ctx_set_data
            .call(&mut *store, (ctx, self.data.get()))?;
        self.ctx_set_input.call(&mut *store, (ctx, input))?;
        self.ctx_set_entrypoint
            .call(&mut *store, (ctx, entrypoint))?;
        let status = self.eval.call(&mut *store, ctx)?;
        if status != 0 {
            return Err(GuestFault::Protocol(format!("`eval` failed with status {status}")).into());
        }
        let result = self.ctx_get_result.call(&mut *store, ctx)?;
        self.dump(store, result, limit)
    }

    /// Copies a JSON text into the guest and parses it there; answers the value's address.
    fn load(&self, store: &mut Store<WapcState>, json: &[u8]) -> wasmtime::Result<i32> {
        let len = i32::try_from(json.len()).map_err(|_| GuestFault::TooLarge {
            what: "input",
            len: json.len(),
            limit: i32::MAX as usize,
        })?;
        let addr = self.malloc.call(&mut *store, len)?;
        if addr == 0 {
            return Err(GuestFault::Protocol(format!(
                "`opa_malloc` could not allocate {len} bytes"
            ))
            .into());
        }
        let memory = store.data().memory.ok_or(GuestFault::NoMemory)?;
        memory
            .write(store.as_context_mut(), addr as u32 as usize, json)
            .map_err(|_| GuestFault::OutOfBounds {
                what: "input",
                ptr: addr as u32 as usize,
                len: json.len(),
                memory_len: memory.data_size(&*store),
            })?;
        match self.json_parse.call(&mut *store, (addr, len))? {
            0 => Err(GuestFault::Protocol("`opa_json_parse` rejected the input".into()).into()),
            value => Ok(value),
        }
    }

    /// The JSON text of the value at `value` (`opa_json_dump`).
    fn dump(
        &self,
        store: &mut Store<WapcState>,
        value: i32,
        limit: usize,
    ) -> wasmtime::Result<Vec<u8>> {
        let text = self.json_dump.call(&mut *store, value)?;
        let memory = store.data().memory.ok_or(GuestFault::NoMemory)?;
        Ok(guest_cstr(memory.data(&*store), text, limit)?.to_vec())
    }
}
