//! Writes the Erlang stub module `py_nif` from the NIF declarations of this
//! crate: `nif-stub crates/py-nif/src > src/py_nif.erl`; with `--flags`,
//! the header of request flags (`pub const FLAG_*: u32`, with their doc
//! comments): `nif-stub --flags crates/py-nif/src > src/py_nif_flags.hrl`.
//!
//! Every function marked `#[rustler::nif]` becomes an export whose arity is
//! its parameter count without the `Env`; every entry of the
//! `ERLANG_DELEGATES` table (`compat.rs`) an Erlang function that hands its
//! arguments to `py_nif_compat:call/2`. (Reading the table from the built
//! library is not possible outside a VM: it imports the `enif_*` symbols
//! with immediate binding.) A stub that disagreed with the library would be
//! refused by `erlang:load_nif/2`, so every Erlang test guards this.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, PartialEq)]
struct Nif {
    arity: usize,
    schedule: Option<String>,
    file: String,
    /// Erlang types of the parameters (without the `Env`) and of the result,
    /// from the Rust types.
    params: Vec<String>,
    result: String,
}

/// The Erlang type a Rust NIF parameter or result decodes from or encodes
/// to (`term()` when the Rust type is a plain `Term`).
fn erlang_type(rust: &str) -> String {
    let t: String = rust.split_whitespace().collect::<Vec<_>>().join(" ");
    let t = t.trim();
    let t = t.strip_prefix("rustler::").unwrap_or(t);
    if let Some(inner) = t.strip_prefix("NifResult<").and_then(|r| r.strip_suffix('>')) {
        return erlang_type(inner);
    }
    if let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        let parts: Vec<String> = split_top(inner).iter().map(|p| erlang_type(p)).collect();
        return format!("{{{}}}", parts.join(", "));
    }
    if let Some(inner) = t.strip_prefix("Vec<").and_then(|r| r.strip_suffix('>')) {
        return format!("[{}]", erlang_type(inner));
    }
    match t.split('<').next().unwrap_or(t) {
        "ResourceArc" => "reference()",
        "Binary" | "OwnedBinary" | "String" => "binary()",
        "Atom" | "types::atom::Atom" => "atom()",
        "LocalPid" => "pid()",
        "bool" => "boolean()",
        "u8" | "u16" | "u32" | "u64" | "usize" => "non_neg_integer()",
        "i8" | "i16" | "i32" | "i64" | "isize" => "integer()",
        "f64" | "f32" => "float()",
        _ => "term()",
    }
    .to_string()
}

/// Splits at the top-level commas of a parameter list or tuple type.
fn split_top(s: &str) -> Vec<String> {
    let mut depth = 0usize;
    let mut parts = Vec::new();
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '(' | '<' | '[' => {
                depth += 1;
                current.push(c)
            }
            ')' | '>' | ']' => {
                depth = depth.saturating_sub(1);
                current.push(c)
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// Finds the NIFs declared in one source file.
fn scan(source: &str, file: &str, out: &mut BTreeMap<String, Nif>) -> Result<(), String> {
    let mut rest = source;
    while let Some(at) = rest.find("#[rustler::nif") {
        let attr_end = rest[at..].find(']').ok_or("unterminated attribute")? + at;
        let attr = &rest[at..attr_end];
        let schedule = attr.split("schedule").nth(1).and_then(|s| s.split('"').nth(1)).map(str::to_string);
        if attr.contains("name =") {
            return Err(format!("{file}: renamed NIFs (name = ...) are not supported by the generator"));
        }
        let after = &rest[attr_end..];
        let fn_at = after.find("fn ").ok_or("attribute without fn")?;
        let sig = &after[fn_at + 3..];
        let name: String = sig.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let open = sig.find('(').ok_or("fn without parameters")?;
        let mut depth = 0usize;
        let mut close = None;
        for (i, c) in sig[open + 1..].char_indices() {
            match c {
                '(' | '<' | '[' => depth += 1,
                ')' if depth == 0 => {
                    close = Some(open + 1 + i);
                    break;
                }
                ')' | '>' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        let close = close.ok_or("unterminated parameter list")?;
        let params: Vec<String> = split_top(&sig[open + 1..close])
            .into_iter()
            .filter(|p| !p.split(':').nth(1).is_some_and(|ty| ty.trim().starts_with("Env")))
            .map(|p| erlang_type(p.split_once(':').map_or("", |(_, ty)| ty)))
            .collect();
        let after_params = &sig[close + 1..];
        let body = after_params.find('{').ok_or("fn without body")?;
        let result = after_params[..body].trim().strip_prefix("->").map_or("ok".to_string(), erlang_type);
        let arity = params.len();
        if out.insert(name.clone(), Nif { arity, schedule, file: file.to_string(), params, result }).is_some() {
            return Err(format!("{file}: NIF {name} declared twice"));
        }
        rest = &after[fn_at + 3..];
    }
    Ok(())
}

/// The `("name", arity)` entries of a `pub const ERLANG_DELEGATES` table.
fn scan_delegates(source: &str, file: &str, out: &mut BTreeMap<String, (usize, String)>) -> Result<(), String> {
    let Some(at) = source.find("pub const ERLANG_DELEGATES") else { return Ok(()) };
    let table = &source[at..];
    let end = table.find("];").ok_or_else(|| format!("{file}: unterminated ERLANG_DELEGATES"))?;
    for line in table[..end].lines().skip(1).map(str::trim).filter(|l| l.starts_with('(')) {
        let entry = line.trim_start_matches('(').trim_end_matches(',').trim_end_matches(')');
        let (name, arity) = entry.split_once(',').ok_or_else(|| format!("{file}: bad delegate {line}"))?;
        let name = name.trim().trim_matches('"').to_string();
        let arity = arity.trim().parse().map_err(|_| format!("{file}: bad delegate arity {line}"))?;
        if out.insert(name.clone(), (arity, file.to_string())).is_some() {
            return Err(format!("{file}: delegate {name} declared twice"));
        }
    }
    Ok(())
}

/// Calls `each(text, file name)` for every `.rs` file under `dir`, in
/// name order, skipping `bin/` (this generator).
fn each_source(dir: &Path, each: &mut dyn FnMut(&str, &str) -> Result<(), String>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            each_source(&path, each)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            each(&text, &name)?;
        }
    }
    Ok(())
}

fn render(nifs: &BTreeMap<String, Nif>, delegates: &BTreeMap<String, (usize, String)>) -> String {
    let mut s = String::new();
    s.push_str("%% @private\n");
    s.push_str("%% GENERATED by crates/py-nif/src/bin/nif-stub.rs from the #[rustler::nif]\n");
    s.push_str("%% declarations of crates/py-nif/src. Do not edit: run `make stub`.\n");
    s.push_str("-module(py_nif).\n\n-export([\n");
    let n = nifs.len();
    for (i, (name, nif)) in nifs.iter().enumerate() {
        let sep = if i + 1 == n { "" } else { "," };
        s.push_str(&format!("    {name}/{}{sep}\n", nif.arity));
    }
    s.push_str("]).\n");
    if !delegates.is_empty() {
        s.push_str("%% The C library's functions carried out in Erlang (see compat.rs).\n-export([\n");
        let n = delegates.len();
        for (i, (name, (arity, _))) in delegates.iter().enumerate() {
            let sep = if i + 1 == n { "" } else { "," };
            s.push_str(&format!("    {name}/{arity}{sep}\n"));
        }
        s.push_str("]).\n");
    }
    s.push_str("-export([load/0]).\n\n");
    s.push_str(concat!(
        "%% Loads the NIF once the Python is chosen (py_python:prepare/0); the\n",
        "%% application does it when it starts. Loading it again is ok.\n",
        "-spec load() -> ok | {error, {atom(), string()}}.\n",
        "load() ->\n",
        "    case erlang:load_nif(filename:join(py_nif_loader:priv_dir(), \"py_nif_impl\"), 0) of\n",
        "        {error, {reload, _}} -> ok;\n",
        "        Other -> Other\n",
        "    end.\n",
    ));
    for (name, nif) in nifs {
        let args = vec!["_"; nif.arity].join(", ");
        let sched = match nif.schedule.as_deref() {
            Some("DirtyIo") => ", dirty I/O scheduler",
            Some("DirtyCpu") => ", dirty CPU scheduler",
            _ => "",
        };
        s.push_str(&format!(
            "\n%% {}{sched}\n-spec {name}({}) -> {}.\n{name}({args}) ->\n    erlang:nif_error(nif_not_loaded).\n",
            nif.file,
            nif.params.join(", "),
            nif.result
        ));
    }
    for (name, (arity, file)) in delegates {
        let args: Vec<String> = (1..=*arity).map(|i| format!("A{i}")).collect();
        s.push_str(&format!(
            "\n%% {file}: carried out by py_nif_compat\n-spec {name}({}) -> term().\n{name}({}) ->\n    py_nif_compat:call({name}, [{}]).\n",
            vec!["term()"; *arity].join(", "),
            args.join(", "),
            args.join(", ")
        ));
    }
    s
}

/// `pub const FLAG_X: u32 = N;` declarations with their `///` lines.
fn scan_flags(source: &str, out: &mut Vec<(String, u32, Vec<String>)>) -> Result<(), String> {
    let mut docs = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(doc) = line.strip_prefix("///") {
            docs.push(doc.trim().to_string());
            continue;
        }
        if let Some(decl) = line.strip_prefix("pub const FLAG_") {
            let (name, value) = decl.split_once(": u32 =").ok_or_else(|| format!("flag not a u32: {line}"))?;
            let value = value.trim().trim_end_matches(';').parse().map_err(|_| format!("flag value: {line}"))?;
            out.push((format!("FLAG_{}", name.trim()), value, std::mem::take(&mut docs)));
        }
        docs.clear();
    }
    Ok(())
}

fn render_flags(flags: &[(String, u32, Vec<String>)]) -> String {
    let mut s = String::new();
    s.push_str("%% GENERATED by crates/py-nif/src/bin/nif-stub.rs from the request flags\n");
    s.push_str("%% (pub const FLAG_*) of crates/py-nif/src. Do not edit: run `make stub`.\n");
    for (name, value, docs) in flags {
        s.push('\n');
        for d in docs {
            s.push_str(&format!("%% {d}\n"));
        }
        s.push_str(&format!("-define({name}, {value}).\n"));
    }
    s
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let flags = args.first().is_some_and(|a| a == "--flags");
    if flags {
        args.remove(0);
    }
    let dir = args.first().cloned().unwrap_or_else(|| "crates/py-nif/src".into());
    let mut nifs = BTreeMap::new();
    let mut delegates = BTreeMap::new();
    let mut flag_list = Vec::new();
    let scanned = each_source(Path::new(&dir), &mut |text, file| {
        if flags {
            scan_flags(text, &mut flag_list)
        } else {
            scan(text, file, &mut nifs)?;
            scan_delegates(text, file, &mut delegates)
        }
    })
    .and_then(|()| {
        match delegates.iter().find(|(name, (arity, _))| nifs.get(*name).is_some_and(|n| n.arity == *arity)) {
            Some((name, (arity, file))) => Err(format!("{file}: delegate {name}/{arity} is also a NIF")),
            None => Ok(()),
        }
    });
    let output = match scanned {
        Err(e) => Err(e),
        Ok(()) if flags && flag_list.is_empty() => Err(format!("no request flags under {dir}")),
        Ok(()) if !flags && nifs.is_empty() => Err(format!("no #[rustler::nif] functions under {dir}")),
        Ok(()) if flags => Ok(render_flags(&flag_list)),
        Ok(()) => Ok(render(&nifs, &delegates)),
    };
    match output {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nif-stub: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_excludes_env_and_reads_schedule() {
        let src = r#"
            #[rustler::nif(schedule = "DirtyIo")]
            fn init<'a>(env: Env<'a>, opts: Term<'a>) -> Term<'a> { todo() }
            #[rustler::nif]
            #[allow(clippy::too_many_arguments)]
            fn call<'a>(env: Env<'a>, ctx: ResourceArc<Ctx>, a: Term<'a>, b: (u8, u8)) -> Term<'a> { x }
            #[rustler::nif]
            fn zero() -> bool { true }
        "#;
        let mut out = BTreeMap::new();
        scan(src, "x.rs", &mut out).unwrap();
        assert_eq!(
            out["init"],
            Nif {
                arity: 1,
                schedule: Some("DirtyIo".into()),
                file: "x.rs".into(),
                params: vec!["term()".into()],
                result: "term()".into()
            }
        );
        assert_eq!(out["call"].arity, 3);
        assert_eq!(out["call"].params, ["reference()", "term()", "{non_neg_integer(), non_neg_integer()}"]);
        assert_eq!(out["zero"].arity, 0);
        assert_eq!(out["zero"].result, "boolean()");
    }

    #[test]
    fn delegates_become_erlang_functions() {
        let src = "pub const ERLANG_DELEGATES: &[(&str, usize)] = &[\n    (\"context_exec\", 3),\n    (\"loop_new\", 0),\n];\n";
        let mut out = BTreeMap::new();
        scan_delegates(src, "compat.rs", &mut out).unwrap();
        assert_eq!(out["context_exec"], (3, "compat.rs".to_string()));
        assert_eq!(out["loop_new"].0, 0);
        let text = render(&BTreeMap::new(), &out);
        assert!(text.contains("    context_exec/3,\n"));
        assert!(text.contains("context_exec(A1, A2, A3) ->\n    py_nif_compat:call(context_exec, [A1, A2, A3]).\n"));
        assert!(text.contains("loop_new() ->\n    py_nif_compat:call(loop_new, []).\n"));
    }

    #[test]
    fn flags_keep_their_docs() {
        let src = "/// One.\n/// Two.\npub const FLAG_A: u32 = 2;\nconst OTHER: u32 = 1;\npub const FLAG_B: u32 = 4;\n";
        let mut out = Vec::new();
        scan_flags(src, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                ("FLAG_A".to_string(), 2, vec!["One.".to_string(), "Two.".to_string()]),
                ("FLAG_B".to_string(), 4, vec![])
            ]
        );
        assert!(render_flags(&out).contains("%% One.\n%% Two.\n-define(FLAG_A, 2).\n"));
    }
}
