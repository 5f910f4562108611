//! `custody annotate`: embed Kubewarden metadata in a policy module, like `kwctl annotate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use custody_host::{read_metadata, Abi, PolicyModule, METADATA_SECTION};
use serde_json::{Map, Value};

use crate::input;

/// Exit status when the module could not be annotated.
pub const EXIT_FAILURE: u8 = 1;

const EXECUTION_MODES: [&str; 4] = ["kubewarden-wapc", "opa", "gatekeeper", "wasi"];
const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";

/// Embed policy metadata in a module (what `kwctl annotate` does).
///
/// Reads metadata.yml, checks it (`rules` a non-empty list, `mutating` a boolean,
/// `executionMode` one of kubewarden-wapc, opa, gatekeeper, wasi; default kubewarden-wapc),
/// adds `protocolVersion: v1` for waPC modules and the README as the
/// `io.kubewarden.policy.usage` annotation, and writes the module with the metadata as JSON in
/// its `io.kubewarden.metadata` custom section (replacing any earlier one). The result is loaded
/// back and its metadata compared before it is written.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy metadata (YAML).
    #[arg(long, value_name = "YAML")]
    metadata: PathBuf,
    /// A README to embed as the policy's usage documentation.
    #[arg(long, value_name = "MARKDOWN")]
    readme: Option<PathBuf>,
    /// Where to write the annotated module.
    #[arg(long, short, value_name = "WASM")]
    output: PathBuf,
    /// The module is the Gatekeeper-mode (OPA wasm ABI) build.
    #[arg(long)]
    gatekeeper: bool,
    /// The module to annotate.
    #[arg(value_name = "WASM")]
    input: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut wasm = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let mut metadata = input::read_document(&args.metadata)?;
    if args.gatekeeper {
        gatekeeper_metadata(&mut metadata)?;
        wasm = set_opa_abi_globals(&wasm)
            .with_context(|| format!("cannot read {} as a wasm module", args.input.display()))?;
    }
    let mode = check_metadata(&metadata)
        .with_context(|| format!("invalid metadata in {}", args.metadata.display()))?;
    let fields = metadata
        .as_object_mut()
        .ok_or_else(|| anyhow!("the metadata must be a mapping"))?;

    let host = input::host()?;
    let name = args
        .input
        .file_stem()
        .map_or_else(|| "module".to_owned(), |s| s.to_string_lossy().into_owned());
    check_module(&host, &name, &wasm, &mode)?;
    if mode == "kubewarden-wapc" {
        fields.insert("protocolVersion".to_owned(), Value::from("v1"));
    }
    if let Some(readme) = &args.readme {
        let text = std::fs::read_to_string(readme)
            .with_context(|| format!("cannot read {}", readme.display()))?;
        let annotations = fields
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(annotations) = annotations else {
            bail!("invalid metadata: `annotations` must be a mapping");
        };
        annotations.insert(USAGE_ANNOTATION.to_owned(), Value::String(text));
    }

    let json = serde_json::to_vec(&metadata).context("cannot encode the metadata")?;
    let annotated = replace_custom_section(&wasm, METADATA_SECTION, &json)
        .with_context(|| format!("cannot annotate {}", args.input.display()))?;

    // Check the result before writing it.
    check_module(&host, &name, &annotated, &mode).context("the annotated module does not load")?;
    let written = read_metadata(&annotated)
        .map_err(anyhow::Error::msg)
        .context("cannot read the metadata back")?;
    if written.as_ref() != Some(&metadata) {
        bail!("the metadata read back from the annotated module differs from what was written");
    }
    std::fs::write(&args.output, &annotated)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Turns a policy's metadata into its Gatekeeper-mode build's: `executionMode: gatekeeper`,
/// `mutating: false`, no `hostCapabilities`.
pub fn gatekeeper_metadata(metadata: &mut Value) -> Result<()> {
    let fields = metadata
        .as_object_mut()
        .ok_or_else(|| anyhow!("the metadata must be a mapping"))?;
    fields.insert("executionMode".to_owned(), Value::from("gatekeeper"));
    fields.insert("mutating".to_owned(), Value::from(false));
    // No host capabilities in that mode; context-aware resources stay: Kubewarden gives
    // Gatekeeper-mode policies the objects they list as `data.inventory`.
    fields.remove("hostCapabilities");
    Ok(())
}

/// Checks the fields Kubewarden requires; returns the execution mode.
pub fn check_metadata(metadata: &Value) -> Result<String> {
    let Value::Object(fields) = metadata else {
        bail!("the metadata must be a mapping");
    };
    match fields.get("rules") {
        Some(Value::Array(rules)) if !rules.is_empty() => {
            for (index, rule) in rules.iter().enumerate() {
                let Value::Object(rule) = rule else {
                    bail!("`rules[{index}]` must be a mapping");
                };
                for field in ["apiGroups", "apiVersions", "resources", "operations"] {
                    match rule.get(field) {
                        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
                        _ => bail!("`rules[{index}].{field}` must be a list of strings"),
                    }
                }
            }
        }
        _ => bail!("`rules` must be a non-empty list"),
    }
    match fields.get("mutating") {
        Some(Value::Bool(_)) => {}
        _ => bail!("`mutating` must be true or false"),
    }
    if let Some(annotations) = fields.get("annotations") {
        match annotations {
            Value::Object(map) if map.values().all(Value::is_string) => {}
            _ => bail!("`annotations` must be a mapping of strings"),
        }
    }
    match fields.get("executionMode") {
        None => Ok("kubewarden-wapc".to_owned()),
        Some(Value::String(mode)) if EXECUTION_MODES.contains(&mode.as_str()) => Ok(mode.clone()),
        Some(other) => bail!(
            "`executionMode` must be one of {}, got {other}",
            EXECUTION_MODES.join(", ")
        ),
    }
}

/// The module must load, and its ABI must match the execution mode.
fn check_module(host: &custody_host::Host, name: &str, wasm: &[u8], mode: &str) -> Result<()> {
    let expected = match mode {
        "kubewarden-wapc" => Abi::Wapc,
        "opa" | "gatekeeper" => Abi::Opa,
        _ => {
            // WASI policies are plain command modules: only check that the bytes are valid.
            host.validate_module(name, wasm)?;
            return Ok(());
        }
    };
    let module = PolicyModule::from_bytes(host, name, wasm)?;
    if module.abi() != expected {
        bail!(
            "executionMode {mode} needs a {expected} module, but {name} is a {} module",
            module.abi()
        );
    }
    Ok(())
}

/// What to do with one section of a module.
enum SectionEdit {
    Keep,
    Drop,
    Replace(Vec<u8>),
}

/// A copy of `wasm` with each section kept, dropped or replaced as `edit(id, body)` says.
fn edit_sections(
    wasm: &[u8],
    mut edit: impl FnMut(u8, &[u8]) -> Result<SectionEdit>,
) -> Result<Vec<u8>> {
    const HEADER: &[u8; 8] = b"\0asm\x01\0\0\0";
    if wasm.get(..8) != Some(HEADER.as_slice()) {
        bail!("not a WebAssembly core module (bad magic number or version)");
    }
    let mut out = Vec::with_capacity(wasm.len());
    out.extend_from_slice(HEADER);
    let mut rest = wasm.get(8..).unwrap_or_default();
    while let Some((&id, after_id)) = rest.split_first() {
        let (size, after_size) = read_leb_u32(after_id)?;
        let header_len = rest.len() - after_size.len();
        let (section, next) = usize::try_from(size)
            .ok()
            .and_then(|size| header_len.checked_add(size))
            .and_then(|end| rest.split_at_checked(end))
            .ok_or_else(|| anyhow!("truncated section (id {id}, {size} bytes)"))?;
        match edit(id, section.get(header_len..).unwrap_or_default())? {
            SectionEdit::Keep => out.extend_from_slice(section),
            SectionEdit::Drop => {}
            SectionEdit::Replace(body) => push_section(&mut out, id, &body)?,
        }
        rest = next;
    }
    Ok(out)
}

fn push_section(out: &mut Vec<u8>, id: u8, body: &[u8]) -> Result<()> {
    out.push(id);
    write_leb_u32(
        out,
        u32::try_from(body.len()).context("section too large for a wasm module")?,
    );
    out.extend_from_slice(body);
    Ok(())
}

/// A copy of `wasm` without any custom section called `name`, with a new one holding `content`
/// appended.
fn replace_custom_section(wasm: &[u8], name: &str, content: &[u8]) -> Result<Vec<u8>> {
    let mut out = edit_sections(wasm, |id, body| {
        if id != 0 {
            return Ok(SectionEdit::Keep);
        }
        let (name_len, after_len) = read_leb_u32(body)?;
        Ok(
            if after_len.get(..usize::try_from(name_len)?) == Some(name.as_bytes()) {
                SectionEdit::Drop
            } else {
                SectionEdit::Keep
            },
        )
    })?;
    let mut payload = Vec::with_capacity(name.len() + content.len() + 5);
    write_leb_u32(&mut payload, u32::try_from(name.len())?);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(content);
    push_section(&mut out, 0, &payload).context("the metadata is too large")?;
    Ok(out)
}

/// The OPA wasm ABI's version globals.
const OPA_ABI_GLOBALS: [&str; 2] = ["opa_wasm_abi_version", "opa_wasm_abi_minor_version"];

/// Sets the OPA ABI version globals of a module built with custody's SDK.
///
/// Stable Rust cannot define a wasm global: the SDK declares `opa_wasm_abi_version` and
/// `opa_wasm_abi_minor_version` as exported statics, which the linker exports as immutable
/// globals holding the statics' *addresses*, while hosts read the globals' *values*. Each such
/// global whose value is the address of four bytes of an active data segment is set to the i32
/// stored there. Globals that already hold the version (modules built by `opa build`) point into
/// no data segment and are left alone.
fn set_opa_abi_globals(wasm: &[u8]) -> Result<Vec<u8>> {
    use wasmparser::{DataKind, ExternalKind, Operator, Parser, Payload, TypeRef};

    let const_i32 = |expr: &wasmparser::ConstExpr<'_>| -> Option<i32> {
        let mut ops = expr.get_operators_reader();
        match (ops.read().ok()?, ops.read().ok()?) {
            (Operator::I32Const { value }, Operator::End) => Some(value),
            _ => None,
        }
    };
    let mut imported_globals = 0u32;
    let mut exported = Vec::new();
    let mut globals = Vec::new(); // (entry bytes, immutable i32 value)
    let mut segments = Vec::new(); // (address, bytes)
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import?.ty, TypeRef::Global(_)) {
                        imported_globals += 1;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.kind == ExternalKind::Global && OPA_ABI_GLOBALS.contains(&export.name)
                    {
                        exported.push(export.index);
                    }
                }
            }
            Payload::GlobalSection(reader) => {
                let end = reader.range().end;
                let entries: Vec<_> = reader.into_iter_with_offsets().collect::<Result<_, _>>()?;
                for (i, (start, global)) in entries.iter().enumerate() {
                    let stop = entries.get(i + 1).map_or(end, |(next, _)| *next);
                    let bytes = wasm
                        .get(*start..stop)
                        .ok_or_else(|| anyhow!("global {i} lies outside the module"))?;
                    let value = (!global.ty.mutable
                        && global.ty.content_type == wasmparser::ValType::I32)
                        .then(|| const_i32(&global.init_expr))
                        .flatten();
                    globals.push((bytes, value));
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    if let DataKind::Active { offset_expr, .. } = &data.kind {
                        if let Some(address) = const_i32(offset_expr) {
                            segments.push((address as u32, data.data));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let stored_at = |address: u32| -> Option<i32> {
        segments.iter().find_map(|(base, bytes)| {
            let offset = usize::try_from(address.checked_sub(*base)?).ok()?;
            let word: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
            Some(i32::from_le_bytes(word))
        })
    };
    let mut changed = false;
    let mut body = Vec::new();
    write_leb_u32(&mut body, u32::try_from(globals.len())?);
    for (index, (bytes, value)) in globals.iter().enumerate() {
        let index = u32::try_from(index)? + imported_globals;
        match value
            .filter(|_| exported.contains(&index))
            .and_then(|a| stored_at(a as u32))
        {
            Some(stored) => {
                // i32, immutable, `i32.const <stored>; end`
                body.extend_from_slice(&[0x7f, 0x00, 0x41]);
                write_leb_i32(&mut body, stored);
                body.push(0x0b);
                changed = true;
            }
            None => body.extend_from_slice(bytes),
        }
    }
    if !changed {
        return Ok(wasm.to_vec());
    }
    edit_sections(wasm, |id, _| {
        Ok(if id == 6 {
            SectionEdit::Replace(body.clone())
        } else {
            SectionEdit::Keep
        })
    })
}

/// Decodes an unsigned LEB128 u32; returns it and the bytes after it.
fn read_leb_u32(bytes: &[u8]) -> Result<(u32, &[u8])> {
    let mut value: u32 = 0;
    for (index, &byte) in bytes.iter().enumerate().take(5) {
        let bits = u32::from(byte & 0x7f);
        let shift = 7 * index as u32;
        if index == 4 && bits > 0x0f {
            bail!("LEB128 value does not fit 32 bits");
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok((value, bytes.get(index + 1..).unwrap_or_default()));
        }
    }
    bail!("truncated or overlong LEB128 value")
}

/// Encodes a signed LEB128 i32 (the immediate of `i32.const`).
fn write_leb_i32(out: &mut Vec<u8>, mut value: i32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leb128_round_trips() -> Result<()> {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut bytes = Vec::new();
            write_leb_u32(&mut bytes, value);
            bytes.push(0xaa);
            assert_eq!(read_leb_u32(&bytes)?, (value, [0xaa].as_slice()));
        }
        assert!(read_leb_u32(&[0x80, 0x80]).is_err());
        assert!(read_leb_u32(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        Ok(())
    }

    #[test]
    fn custom_sections_are_replaced_not_duplicated() -> Result<()> {
        let wasm = wat::parse_str(
            r#"(module (@custom "io.kubewarden.metadata" "{\"old\":true}")
                (@custom "other" "keep") (func (export "f")))"#,
        )?;
        let once = replace_custom_section(&wasm, METADATA_SECTION, br#"{"new":1}"#)?;
        let twice = replace_custom_section(&once, METADATA_SECTION, br#"{"new":2}"#)?;
        assert_eq!(
            read_metadata(&twice).map_err(anyhow::Error::msg)?,
            Some(json!({"new": 2}))
        );
        assert_eq!(twice.len(), once.len());
        assert!(twice.windows(4).any(|w| w == b"keep"));
        assert!(!twice.windows(3).any(|w| w == b"old"));
        assert!(replace_custom_section(b"\0asm\x0d\0\x01\0", METADATA_SECTION, b"{}").is_err());
        let truncated = wasm.split_last().map(|(_, rest)| rest).unwrap_or_default();
        assert!(replace_custom_section(truncated, METADATA_SECTION, b"{}").is_err());
        Ok(())
    }

    #[test]
    fn opa_abi_globals_get_the_values_their_statics_hold() -> Result<()> {
        let global = |wasm: &[u8], name: &str| -> Result<Option<i32>> {
            for payload in wasmparser::Parser::new(0).parse_all(wasm) {
                if let wasmparser::Payload::ExportSection(reader) = payload? {
                    for export in reader {
                        let export = export?;
                        if export.name == name {
                            return global_value(wasm, export.index);
                        }
                    }
                }
            }
            Ok(None)
        };
        // What the Rust linker emits: globals holding the addresses of two statics.
        let linked = wat::parse_str(
            r#"(module (memory 1)
                (global (export "opa_wasm_abi_version") i32 (i32.const 1024))
                (global (export "opa_wasm_abi_minor_version") i32 (i32.const 1028))
                (global (export "other") i32 (i32.const 1024))
                (data (i32.const 1024) "\01\00\00\00\02\00\00\00"))"#,
        )?;
        let fixed = set_opa_abi_globals(&linked)?;
        assert_eq!(global(&fixed, "opa_wasm_abi_version")?, Some(1));
        assert_eq!(global(&fixed, "opa_wasm_abi_minor_version")?, Some(2));
        assert_eq!(
            global(&fixed, "other")?,
            Some(1024),
            "other globals are left alone"
        );
        // Already values (as `opa build` writes them): unchanged.
        assert_eq!(set_opa_abi_globals(&fixed)?, fixed);
        let built = wat::parse_str(
            r#"(module (global (export "opa_wasm_abi_version") i32 (i32.const 1)))"#,
        )?;
        assert_eq!(set_opa_abi_globals(&built)?, built);
        Ok(())
    }

    /// The `i32.const` value of global `index` (no imported globals in these modules).
    fn global_value(wasm: &[u8], index: u32) -> Result<Option<i32>> {
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            if let wasmparser::Payload::GlobalSection(reader) = payload? {
                if let Some(global) = reader.into_iter().nth(usize::try_from(index)?) {
                    let mut ops = global?.init_expr.get_operators_reader();
                    if let wasmparser::Operator::I32Const { value } = ops.read()? {
                        return Ok(Some(value));
                    }
                }
            }
        }
        Ok(None)
    }

    #[test]
    fn metadata_fields_are_checked() {
        let good = json!({"rules": [{"apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["pods"], "operations": ["CREATE"]}], "mutating": false});
        assert_eq!(
            check_metadata(&good).ok().as_deref(),
            Some("kubewarden-wapc")
        );
        let error = |value: Value| {
            check_metadata(&value)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(error(json!({"rules": [], "mutating": false})).contains("rules"));
        assert!(
            error(json!({"rules": [{"apiGroups": [""]}], "mutating": false}))
                .contains("rules[0].apiVersions")
        );
        let mut no_mutating = good.clone();
        no_mutating.as_object_mut().map(|m| m.remove("mutating"));
        assert!(error(no_mutating).contains("mutating"));
        let mut bad_mode = good.clone();
        bad_mode
            .as_object_mut()
            .map(|m| m.insert("executionMode".into(), json!("docker")));
        assert!(error(bad_mode).contains("executionMode"));
    }
}
