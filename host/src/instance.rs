//! An instantiated policy (waPC or OPA ABI), reused for many calls.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use wasmtime::{Instance, InstancePre, Linker, Store, Trap, TypedFunc, UnknownImportError};
use wasmtime_wasi::I32Exit;

use crate::opa::{self, OpaGuest};
use crate::wapc::{GuestFault, MemoryLimitHit, WapcState};
use crate::{
    Abi, Capabilities, GatekeeperResult, GatekeeperViolation, Host, HostError, Limits,
    PolicyModule, SettingsValidation, ValidationResponse,
};

/// Exported functions run once after instantiation, in this order, when present.
/// (`_start` for command-style builds, `_initialize` for WASI reactors, `wapc_init` for waPC.)
const INITIALISERS: [&str; 3] = ["_start", "_initialize", "wapc_init"];

/// A policy instantiated once and called many times ("warm" calls).
///
/// Both ABIs answer [`PolicyInstance::validate`] (an OPA-ABI module's violations become a
/// rejection whose message has one line per violation, as Kubewarden's `gatekeeper` mode joins
/// them); the waPC operations (`validate_settings`, `protocol_version`, raw calls) and the OPA
/// evaluation ([`PolicyInstance::gatekeeper`]) are each refused by the other ABI.
///
/// The deadline (and fuel, when metered) is renewed before every call. A call that traps
/// (deadline passed, fuel exhausted, memory limit, guest
/// fault, ...) leaves the guest in an unknown state, so the instance is then *poisoned*: every
/// later call fails with [`HostError::Poisoned`]. Create a new instance to go on. A guest that
/// merely reports an error (`__guest_error`) does not poison it.
pub struct PolicyInstance {
    store: Store<WapcState>,
    instance: Instance,
    guest: Guest,
    module_name: String,
    limits: Limits,
    deadline_ticks: u64,
    last_fuel_used: u64,
    poisoned: Option<String>,
}

impl fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("module", &self.module_name)
            .field("limits", &self.limits)
            .field("poisoned", &self.poisoned)
            .field("state", self.store.data())
            .finish_non_exhaustive()
    }
}

/// How the instance is called.
enum Guest {
    /// `__guest_call`.
    Wapc(TypedFunc<(i32, i32), i32>),
    /// The OPA ABI's exports.
    Opa(Box<OpaGuest>),
}

#[derive(Serialize)]
struct ValidatePayload<'a> {
    request: &'a Value,
    settings: &'a Value,
}

#[derive(Serialize)]
struct GatekeeperInput<'a> {
    review: &'a Value,
    parameters: &'a Value,
}

/// A policy module with its imports resolved, ready to be instantiated again and again: what
/// Kubewarden's policy server keeps to rehydrate a fresh instance for every admission request
/// (wasmtime's [`InstancePre`]). A waPC module's imports (waPC and WASI functions) are resolved
/// once, here; an OPA-ABI module's functions too, while its memory (`env.memory`) is made for
/// each instance.
pub struct PolicyPre {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
    name: String,
    imports: Imports,
}

enum Imports {
    Wapc(InstancePre<WapcState>),
    /// The `env` functions; each instance adds its own memory to a copy.
    Opa(Linker<WapcState>),
}

impl fmt::Debug for PolicyPre {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyPre")
            .field("module", &self.name)
            .finish_non_exhaustive()
    }
}

impl PolicyPre {
    /// Resolves `module`'s imports against `host`'s; an import the host does not provide is
    /// refused ([`HostError::UnknownImport`]).
    pub fn new(host: &Host, module: &PolicyModule) -> Result<Self, HostError> {
        let name = module.name();
        let imports = match module.abi() {
            Abi::Wapc => Imports::Wapc(host.linker().instantiate_pre(module.module()).map_err(
                |error| match error.downcast_ref::<UnknownImportError>() {
                    Some(unknown) => HostError::UnknownImport {
                        module: name.to_owned(),
                        import_module: unknown.module().to_owned(),
                        import_name: unknown.name().to_owned(),
                    },
                    None => HostError::Instantiate {
                        module: name.to_owned(),
                        message: format!("{error:#}"),
                    },
                },
            )?),
            Abi::Opa => {
                Imports::Opa(
                    opa::functions(host.engine()).map_err(|e| HostError::Instantiate {
                        module: name.to_owned(),
                        message: format!("cannot provide the OPA imports: {e:#}"),
                    })?,
                )
            }
        };
        Ok(Self {
            engine: host.engine().clone(),
            module: module.module().clone(),
            name: name.to_owned(),
            imports,
        })
    }

    /// The module's ABI.
    pub fn abi(&self) -> Abi {
        match self.imports {
            Imports::Wapc(_) => Abi::Wapc,
            Imports::Opa(_) => Abi::Opa,
        }
    }
}

impl PolicyInstance {
    /// Instantiates `module` and runs its initialisers (`_start` / `_initialize`, then
    /// `wapc_init`); for an OPA-ABI module, gives it its memory (`env.memory`,
    /// [`crate::OPA_MEMORY_PAGES`] pages), checks the ABI version and loads an empty `data`. Host calls
    /// from a waPC guest are answered by `caps` (OPA-ABI modules have no host capabilities).
    ///
    /// To instantiate a module many times, resolve its imports once ([`PolicyPre`]) and use
    /// [`PolicyInstance::from_pre`].
    pub fn new(
        host: &Host,
        module: &PolicyModule,
        caps: Box<dyn Capabilities>,
    ) -> Result<Self, HostError> {
        Self::from_pre(host, &PolicyPre::new(host, module)?, caps)
    }

    /// A fresh instance of a pre-instantiated module (as [`PolicyInstance::new`] makes one):
    /// what a host that starts a new instance for every request does.
    pub fn from_pre(
        host: &Host,
        pre: &PolicyPre,
        caps: Box<dyn Capabilities>,
    ) -> Result<Self, HostError> {
        let name = pre.name.as_str();
        if !wasmtime::Engine::same(&pre.engine, host.engine()) {
            return Err(HostError::Instantiate {
                module: name.to_owned(),
                message: "the module was prepared by another host".to_owned(),
            });
        }
        let limits = host.limits();
        let mut store = Store::new(host.engine(), WapcState::new(limits, caps));
        store.limiter(|state| &mut state.limiter);
        let limits = *limits;
        let deadline_ticks = host.deadline_ticks();
        arm(&mut store, &limits, deadline_ticks)?;
        store.data_mut().begin_call("instantiate");

        let instantiated = match &pre.imports {
            Imports::Wapc(instance_pre) => instance_pre.instantiate(&mut store),
            Imports::Opa(functions) => {
                let mut linker = functions.clone();
                opa::define_memory(&mut linker, &mut store, &pre.module).map_err(|e| {
                    HostError::Instantiate {
                        module: name.to_owned(),
                        message: format!("cannot provide the OPA imports: {e:#}"),
                    }
                })?;
                let instantiated = linker.instantiate(&mut store, &pre.module);
                if instantiated.is_err() {
                    // A missing import is the common case: name it precisely.
                    if let Some(import) = pre
                        .module
                        .imports()
                        .find(|import| linker.get_by_import(&mut store, import).is_none())
                    {
                        return Err(HostError::UnknownImport {
                            module: name.to_owned(),
                            import_module: import.module().to_owned(),
                            import_name: import.name().to_owned(),
                        });
                    }
                }
                instantiated
            }
        };
        let instance = match instantiated {
            Ok(instance) => instance,
            Err(error) => {
                return Err(match classify(error, "instantiate", &limits) {
                    HostError::Trap { message, .. } => HostError::Instantiate {
                        module: name.to_owned(),
                        message,
                    },
                    other => other,
                });
            }
        };
        if pre.abi() == Abi::Opa {
            arm(&mut store, &limits, deadline_ticks)?;
            store.data_mut().begin_call("instantiate");
            let guest = OpaGuest::new(&mut store, &instance).map_err(|e| {
                match classify(e, "instantiate", &limits) {
                    HostError::BadResponse { message, .. } | HostError::Trap { message, .. } => {
                        HostError::Instantiate {
                            module: name.to_owned(),
                            message,
                        }
                    }
                    other => other,
                }
            })?;
            return Ok(Self::ready(
                store,
                instance,
                Guest::Opa(Box::new(guest)),
                name,
                limits,
                deadline_ticks,
            ));
        }

        if store.data().memory.is_none() {
            store.data_mut().memory = instance.get_memory(&mut store, "memory");
        }
        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .map_err(|e| HostError::Instantiate {
                module: name.to_owned(),
                message: format!("export `__guest_call` is not `(i32, i32) -> i32`: {e:#}"),
            })?;

        for initialiser in INITIALISERS {
            let Some(func) = instance.get_func(&mut store, initialiser) else {
                continue;
            };
            let func = func
                .typed::<(), ()>(&store)
                .map_err(|e| HostError::Instantiate {
                    module: name.to_owned(),
                    message: format!("export `{initialiser}` is not `() -> ()`: {e:#}"),
                })?;
            arm(&mut store, &limits, deadline_ticks)?;
            store.data_mut().begin_call(initialiser);
            if let Err(error) = func.call(&mut store, ()) {
                // A command's `_start` ends with `proc_exit(0)`: that is a normal return.
                if error
                    .downcast_ref::<I32Exit>()
                    .is_some_and(|exit| exit.0 == 0)
                {
                    continue;
                }
                return Err(classify(error, initialiser, &limits));
            }
        }

        Ok(Self::ready(
            store,
            instance,
            Guest::Wapc(guest_call),
            name,
            limits,
            deadline_ticks,
        ))
    }

    fn ready(
        store: Store<WapcState>,
        instance: Instance,
        guest: Guest,
        name: &str,
        limits: Limits,
        deadline_ticks: u64,
    ) -> Self {
        Self {
            store,
            instance,
            guest,
            module_name: name.to_owned(),
            limits,
            deadline_ticks,
            last_fuel_used: 0,
            poisoned: None,
        }
    }

    /// The module's ABI.
    pub fn abi(&self) -> Abi {
        match self.guest {
            Guest::Wapc(_) => Abi::Wapc,
            Guest::Opa(_) => Abi::Opa,
        }
    }

    /// The OPA ABI minor version the module declares (`None` for waPC modules).
    pub fn opa_abi_minor_version(&self) -> Option<i32> {
        match &self.guest {
            Guest::Opa(guest) => Some(guest.minor_version),
            Guest::Wapc(_) => None,
        }
    }

    /// The OPA entrypoints (name to id; empty for waPC modules).
    pub fn entrypoints(&self) -> Vec<(String, i32)> {
        match &self.guest {
            Guest::Opa(guest) => guest
                .entrypoints
                .iter()
                .map(|(name, id)| (name.clone(), *id))
                .collect(),
            Guest::Wapc(_) => Vec::new(),
        }
    }

    /// Calls waPC operation `operation` with `payload` and returns the guest's answer.
    pub fn call(&mut self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, HostError> {
        let buffer = &mut self.store.data_mut().payload;
        buffer.clear();
        buffer.extend_from_slice(payload);
        self.invoke(operation)
    }

    /// `protocol_version`: the waPC protocol the policy speaks, e.g. `v1`.
    pub fn protocol_version(&mut self) -> Result<String, HostError> {
        const OPERATION: &str = "protocol_version";
        let answer = self.call(OPERATION, &[])?;
        parse_answer(OPERATION, &answer)
    }

    /// `validate_settings` with the raw settings JSON.
    pub fn validate_settings(&mut self, settings: &Value) -> Result<SettingsValidation, HostError> {
        const OPERATION: &str = "validate_settings";
        self.fill_payload(OPERATION, settings)?;
        let answer = self.invoke(OPERATION)?;
        parse_answer(OPERATION, &answer)
    }

    /// `validate` with `{"request": request, "settings": settings}`; for an OPA-ABI module, the
    /// Gatekeeper evaluation of `{"review": request, "parameters": settings}`, its violations
    /// joined a line each.
    pub fn validate(
        &mut self,
        request: &Value,
        settings: &Value,
    ) -> Result<ValidationResponse, HostError> {
        const OPERATION: &str = "validate";
        if let Guest::Opa(_) = self.guest {
            let violations = self.gatekeeper(request, settings)?;
            return Ok(ValidationResponse::from_gatekeeper(&violations));
        }
        self.fill_payload(OPERATION, &ValidatePayload { request, settings })?;
        let answer = self.invoke(OPERATION)?;
        parse_answer(OPERATION, &answer)
    }

    /// `validate` with a payload that is already serialized (`{"request": .., "settings": ..}`).
    pub fn validate_raw(&mut self, payload: &[u8]) -> Result<ValidationResponse, HostError> {
        const OPERATION: &str = "validate";
        let answer = self.call(OPERATION, payload)?;
        parse_answer(OPERATION, &answer)
    }

    /// Gatekeeper mode (OPA ABI): evaluates entrypoint 0 on `{"review": request, "parameters":
    /// parameters}` and answers its violations (none: allowed).
    pub fn gatekeeper(
        &mut self,
        request: &Value,
        parameters: &Value,
    ) -> Result<Vec<GatekeeperViolation>, HostError> {
        const OPERATION: &str = "eval";
        let input = serde_json::to_vec(&GatekeeperInput {
            review: request,
            parameters,
        })
        .map_err(|e| HostError::BadResponse {
            operation: OPERATION.to_owned(),
            message: format!("cannot serialize the input: {e}"),
        })?;
        let answer = self.evaluate_raw(0, &input)?;
        let mut results: Vec<GatekeeperResult> = parse_answer(OPERATION, &answer)?;
        match results.len() {
            0 => Ok(Vec::new()),
            1 => Ok(results.pop().map(|r| r.result).unwrap_or_default()),
            n => Err(HostError::BadResponse {
                operation: OPERATION.to_owned(),
                message: format!("the result set has {n} results, expected at most 1"),
            }),
        }
    }

    /// OPA ABI: evaluates `entrypoint` on an input document (JSON text) and answers the result
    /// set as JSON text (`[{"result": ...}]`).
    pub fn evaluate_raw(&mut self, entrypoint: i32, input: &[u8]) -> Result<Vec<u8>, HostError> {
        const OPERATION: &str = "eval";
        let limit = self.limits.max_response_bytes;
        self.run(OPERATION, Abi::Opa, |store, guest| match guest {
            Guest::Opa(guest) => guest.evaluate(store, entrypoint, input, limit),
            Guest::Wapc(_) => unreachable_for_abi(),
        })
    }

    /// OPA ABI: sets the `data` document later evaluations see (Gatekeeper's `data`, whose
    /// `inventory` holds the cluster objects it replicates; see [`crate::Cluster::data`]).
    pub fn set_data(&mut self, data: &Value) -> Result<(), HostError> {
        const OPERATION: &str = "set_data";
        let text = serde_json::to_vec(data).map_err(|e| HostError::BadResponse {
            operation: OPERATION.to_owned(),
            message: format!("cannot serialize the data document: {e}"),
        })?;
        self.run(OPERATION, Abi::Opa, |store, guest| match guest {
            Guest::Opa(guest) => guest.set_data(store, &text),
            Guest::Wapc(_) => unreachable_for_abi(),
        })
    }

    /// What the guest wrote through `__console_log` so far (bounded in total size).
    pub fn logs(&self) -> &[String] {
        &self.store.data().logs
    }

    /// Hands over the log messages collected so far and starts a new collection.
    pub fn take_logs(&mut self) -> Vec<String> {
        self.store.data_mut().take_logs()
    }

    /// The size of the guest's memory in bytes (0 before it has one).
    pub fn memory_size(&self) -> usize {
        self.store
            .data()
            .memory
            .map_or(0, |memory| memory.data_size(&self.store))
    }

    /// The fuel the last call used (0 when fuel metering is off: [`Limits::fuel`] is `None`).
    pub fn last_fuel_used(&self) -> u64 {
        self.last_fuel_used
    }

    /// Whether an earlier trap made this instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The name of the module this instance runs.
    pub fn module_name(&self) -> &str {
        &self.module_name
    }

    /// The underlying wasmtime instance.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Serializes `value` straight into the reused payload buffer.
    fn fill_payload<T: Serialize + ?Sized>(
        &mut self,
        operation: &str,
        value: &T,
    ) -> Result<(), HostError> {
        let buffer = &mut self.store.data_mut().payload;
        buffer.clear();
        serde_json::to_writer(&mut *buffer, value).map_err(|e| HostError::BadResponse {
            operation: operation.to_owned(),
            message: format!("cannot serialize the payload: {e}"),
        })
    }

    /// Runs `__guest_call` for `operation` on the payload already in the store.
    fn invoke(&mut self, operation: &str) -> Result<Vec<u8>, HostError> {
        let state = self.store.data_mut();
        let too_large = |len| HostError::PayloadTooLarge {
            operation: operation.to_owned(),
            len,
        };
        let operation_len =
            i32::try_from(operation.len()).map_err(|_| too_large(operation.len()))?;
        let payload_len =
            i32::try_from(state.payload.len()).map_err(|_| too_large(state.payload.len()))?;
        let status = self.run(operation, Abi::Wapc, |store, guest| match guest {
            Guest::Wapc(guest_call) => guest_call.call(store, (operation_len, payload_len)),
            Guest::Opa(_) => unreachable_for_abi(),
        })?;
        let state = self.store.data_mut();
        match status {
            1 => state
                .guest_response
                .take()
                .ok_or_else(|| HostError::BadResponse {
                    operation: operation.to_owned(),
                    message: "`__guest_call` returned success without calling `__guest_response`"
                        .to_owned(),
                }),
            0 => Err(HostError::GuestError {
                operation: operation.to_owned(),
                message: state.guest_error.take().map_or_else(
                    || {
                        "(no message: `__guest_call` returned 0 without calling `__guest_error`)"
                            .to_owned()
                    },
                    |bytes| String::from_utf8_lossy(&bytes).into_owned(),
                ),
            }),
            code => Err(HostError::BadResponse {
                operation: operation.to_owned(),
                message: format!("`__guest_call` returned {code}, expected 1 (ok) or 0 (error)"),
            }),
        }
    }

    /// Runs the guest for `operation` of the `abi` ABI: refuses a poisoned instance or an
    /// operation of the other ABI, arms the deadline (and fuel), and turns a trap into a
    /// [`HostError`] that poisons the instance.
    fn run<T>(
        &mut self,
        operation: &str,
        abi: Abi,
        call: impl FnOnce(&mut Store<WapcState>, &Guest) -> wasmtime::Result<T>,
    ) -> Result<T, HostError> {
        if let Some(cause) = &self.poisoned {
            return Err(HostError::Poisoned {
                operation: operation.to_owned(),
                cause: cause.clone(),
            });
        }
        if self.abi() != abi {
            return Err(HostError::NotForAbi {
                operation: operation.to_owned(),
                abi: self.abi(),
            });
        }
        self.store.data_mut().begin_call(operation);
        arm(&mut self.store, &self.limits, self.deadline_ticks)?;
        let outcome = call(&mut self.store, &self.guest);
        self.last_fuel_used = self.limits.fuel.map_or(0, |fuel| {
            fuel.saturating_sub(self.store.get_fuel().unwrap_or_default())
        });
        outcome.map_err(|error| {
            let error = classify(error, operation, &self.limits);
            self.poisoned = Some(error.to_string());
            error
        })
    }
}

/// The guest of the other ABI: [`PolicyInstance::run`] refuses the call before this is reached.
fn unreachable_for_abi<T>() -> wasmtime::Result<T> {
    Err(wasmtime::Error::msg("operation of the other ABI"))
}

/// Parses a guest's answer to `operation` as JSON, as every method of [`PolicyInstance`] does
/// (for callers that send raw payloads with [`PolicyInstance::call`]).
pub fn parse_answer<T: serde::de::DeserializeOwned>(
    operation: &str,
    answer: &[u8],
) -> Result<T, HostError> {
    serde_json::from_slice(answer).map_err(|e| HostError::BadResponse {
        operation: operation.to_owned(),
        message: e.to_string(),
    })
}

/// Sets the deadline and refills the fuel (when metered) before the guest runs.
fn arm(
    store: &mut Store<WapcState>,
    limits: &Limits,
    deadline_ticks: u64,
) -> Result<(), HostError> {
    store.set_epoch_deadline(deadline_ticks);
    if let Some(fuel) = limits.fuel {
        store.set_fuel(fuel).map_err(|e| HostError::Engine {
            message: format!("{e:#}"),
        })?;
    }
    Ok(())
}

/// Turns the error of a failed guest call into the precise [`HostError`].
fn classify(error: wasmtime::Error, operation: &str, limits: &Limits) -> HostError {
    let operation = operation.to_owned();
    if let Some(hit) = error.downcast_ref::<MemoryLimitHit>() {
        return HostError::MemoryLimit {
            operation,
            requested_bytes: hit.requested_bytes,
            limit_bytes: hit.limit_bytes,
        };
    }
    if let Some(fault) = error.downcast_ref::<GuestFault>() {
        let message = fault.to_string();
        return match fault {
            GuestFault::NoMemory | GuestFault::OutOfBounds { .. } => {
                HostError::GuestMemory { operation, message }
            }
            GuestFault::NotUtf8 { .. } => HostError::HostCall { operation, message },
            GuestFault::TooLarge { len, limit, .. } => HostError::ResponseTooLarge {
                operation,
                len: *len,
                limit: *limit,
            },
            GuestFault::Aborted(_) => HostError::GuestError { operation, message },
            GuestFault::Protocol(_) => HostError::BadResponse { operation, message },
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => HostError::FuelExhausted {
            operation,
            budget: limits.fuel.unwrap_or_default(),
        },
        Some(Trap::Interrupt) => HostError::Timeout {
            operation,
            timeout: limits.timeout,
        },
        Some(trap) => HostError::Trap {
            operation,
            message: trap.to_string(),
        },
        None => match error.downcast_ref::<I32Exit>() {
            Some(exit) => HostError::Trap {
                operation,
                message: format!("the guest exited with status {}", exit.0),
            },
            None => HostError::Trap {
                operation,
                message: format!("{error:#}"),
            },
        },
    }
}
