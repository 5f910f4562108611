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
    /// The module to annotate.
    #[arg(value_name = "WASM")]
    input: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let wasm = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let mut metadata = input::read_document(&args.metadata)?;
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

/// Checks the fields Kubewarden requires; returns the execution mode.
fn check_metadata(metadata: &Value) -> Result<String> {
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

/// A copy of `wasm` without any custom section called `name`, with a new one holding `content`
/// appended.
fn replace_custom_section(wasm: &[u8], name: &str, content: &[u8]) -> Result<Vec<u8>> {
    const HEADER: &[u8; 8] = b"\0asm\x01\0\0\0";
    if wasm.get(..8) != Some(HEADER.as_slice()) {
        bail!("not a WebAssembly core module (bad magic number or version)");
    }
    let mut out = Vec::with_capacity(wasm.len() + content.len() + name.len() + 16);
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
        let body = section.get(header_len..).unwrap_or_default();
        let drop = id == 0 && {
            let (name_len, after_len) = read_leb_u32(body)?;
            after_len.get(..usize::try_from(name_len)?) == Some(name.as_bytes())
        };
        if !drop {
            out.extend_from_slice(section);
        }
        rest = next;
    }
    let mut payload = Vec::with_capacity(name.len() + content.len() + 5);
    write_leb_u32(&mut payload, u32::try_from(name.len())?);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(content);
    out.push(0);
    write_leb_u32(
        &mut out,
        u32::try_from(payload.len()).context("the metadata is too large for a wasm section")?,
    );
    out.extend_from_slice(&payload);
    Ok(out)
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
