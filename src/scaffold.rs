//! The starter playbooks of `runbook new PROVIDER [FILE]` (the command is `commands::new`), one per
//! provider.
//!
//! The templates are playbooks in `scaffold/*.yaml`, written like the shipped ones: the schema
//! modeline, how to try the playbook, which credentials it reads, and what each step does (`http`
//! explains every field). Three placeholders are filled in: `__NAME__` (the playbook's name, from
//! the file name when it is a valid one), `__FILE__` (the file, for the commands in the comments)
//! and `__SCHEMA__` (the modeline's path to the schema: the nearest committed
//! `schemas/playbook.schema.json`, else `playbook.schema.json` beside the playbook, which
//! `runbook new` writes there when it is missing, so the modeline always names a file that exists).
//!
//! Invariants: every template validates and plays with `--sandbox --dry-run` as it is written (the
//! integration test `new_playbooks` runs each); an existing file is never overwritten, not even by
//! a race, since the file is written aside and moved into place only if the name is still free.

use std::path::{Component, Path, PathBuf};

/// The starter playbooks, by provider name.
const TEMPLATES: [(&str, &str); 6] = [
    ("beam", include_str!("scaffold/beam.yaml")),
    ("deepwork", include_str!("scaffold/deepwork.yaml")),
    ("geelark", include_str!("scaffold/geelark.yaml")),
    ("herodotus", include_str!("scaffold/herodotus.yaml")),
    ("skyvern", include_str!("scaffold/skyvern.yaml")),
    ("http", include_str!("scaffold/http.yaml")),
];

/// Where the schema is committed in a project laid out like runbook's.
const SCHEMA_FILE: &str = "schemas/playbook.schema.json";

/// The modeline's path when no committed schema is found: a copy beside the playbook (what
/// `runbook schema > playbook.schema.json` writes).
const SCHEMA_BESIDE: &str = "playbook.schema.json";

/// Where `runbook new` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `-`: print the playbook.
    Stdout,
    /// A new file.
    File(PathBuf),
}

/// Why no starter playbook was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NewError {
    #[error("unknown provider `{name}`; {help}")]
    UnknownProvider { name: String, help: String },
    #[error(
        "{path} already exists: runbook new never overwrites a file; give another name or remove it"
    )]
    Exists { path: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The starter playbook of `provider`, its placeholders filled in.
pub(crate) fn render(
    provider: &str,
    name: &str,
    file: &str,
    schema: &str,
) -> Result<String, NewError> {
    let (_, text) = TEMPLATES
        .iter()
        .find(|(p, _)| *p == provider)
        .ok_or_else(|| NewError::UnknownProvider {
            name: provider.to_string(),
            help: crate::providers::unknown_help(provider),
        })?;
    Ok(text
        .replace("__SCHEMA__", schema)
        .replace("__NAME__", name)
        .replace("__FILE__", file))
}

/// The playbook's name: the file's stem when it is a valid playbook name, else
/// `PROVIDER-recovery`.
fn playbook_name(provider: &str, destination: &Destination) -> String {
    let stem = match destination {
        Destination::File(path) => path.file_stem().and_then(|s| s.to_str()),
        Destination::Stdout => None,
    };
    let valid = |s: &&str| {
        s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    stem.filter(valid)
        .map_or_else(|| format!("{provider}-recovery"), str::to_string)
}

/// The modeline's path to the schema, relative to `dir`: the nearest `schemas/playbook.schema.json`
/// in `dir` or its ancestors, or [`SCHEMA_BESIDE`].
fn schema_path(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let found = absolute
        .ancestors()
        .enumerate()
        .find(|(_, at)| at.join(SCHEMA_FILE).is_file());
    match found {
        Some((0, _)) => SCHEMA_FILE.to_string(),
        Some((ups, _)) => format!("{}{SCHEMA_FILE}", "../".repeat(ups)),
        None => SCHEMA_BESIDE.to_string(),
    }
}

/// The folder a destination's playbook goes in (`.` for a bare file name and for stdout).
fn folder_of(destination: &Destination) -> PathBuf {
    let dir = match destination {
        Destination::Stdout => PathBuf::from("."),
        Destination::File(path) => path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    if dir.as_os_str().is_empty() || dir.components().all(|c| c == Component::CurDir) {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// The schema file `runbook new` must write beside a new playbook file so that its modeline names
/// a file that exists: `Some` only when no committed schema is near and none is beside it yet.
pub(crate) fn schema_to_write(destination: &Destination) -> Option<PathBuf> {
    let Destination::File(_) = destination else {
        return None;
    };
    let dir = folder_of(destination);
    let beside = if dir == Path::new(".") {
        PathBuf::from(SCHEMA_BESIDE)
    } else {
        dir.join(SCHEMA_BESIDE)
    };
    (schema_path(&dir) == SCHEMA_BESIDE && beside.symlink_metadata().is_err()).then_some(beside)
}

/// Write `text` to `path` unless something is there: written aside in the same folder, then
/// moved into place only if the name is still free (no overwrite even in a race).
pub(crate) fn write_new(path: &Path, text: &str) -> Result<(), NewError> {
    use std::io::Write;
    let shown = path.display().to_string();
    if path.symlink_metadata().is_ok() {
        return Err(NewError::Exists { path: shown });
    }
    let io = |source| NewError::Io {
        path: shown.clone(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(NewError::Exists { path: shown })
        }
        Err(e) => Err(io(e.error)),
    }
}

/// The starter playbook of `provider` for `destination`.
pub(crate) fn starter(provider: &str, destination: &Destination) -> Result<String, NewError> {
    let name = playbook_name(provider, destination);
    let shown = match destination {
        Destination::Stdout => format!("{name}.yaml"),
        Destination::File(path) => path.display().to_string(),
    };
    let dir = folder_of(destination);
    render(provider, &name, &shown, &schema_path(&dir))
}

/// The default file of `runbook new PROVIDER`: `PROVIDER-recovery.yaml` here.
pub fn default_file(provider: &str) -> PathBuf {
    PathBuf::from(format!("{provider}-recovery.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_a_starter_playbook() {
        for p in crate::providers::all() {
            assert!(
                TEMPLATES.iter().any(|(name, _)| *name == p.name()),
                "no starter playbook for {}",
                p.name()
            );
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for (provider, _) in TEMPLATES {
            let text = render(provider, "n", "f.yaml", "s.json").expect("a known provider");
            assert!(!text.contains("__"), "{provider}: {text}");
            assert!(
                text.starts_with("# yaml-language-server: $schema=s.json\n"),
                "{provider}"
            );
        }
    }

    #[test]
    fn the_name_comes_from_the_file_when_it_is_a_valid_name() {
        let file = |p: &str| Destination::File(PathBuf::from(p));
        assert_eq!(
            playbook_name("beam", &file("playbooks/nightly.yaml")),
            "nightly"
        );
        assert_eq!(
            playbook_name("beam", &file("my night!.yaml")),
            "beam-recovery"
        );
        assert_eq!(playbook_name("http", &Destination::Stdout), "http-recovery");
    }

    #[test]
    fn the_modeline_points_at_the_nearest_committed_schema() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let nested = root.path().join("playbooks/team");
        std::fs::create_dir_all(&nested).expect("folders");
        assert_eq!(schema_path(&nested), SCHEMA_BESIDE);
        std::fs::create_dir_all(root.path().join("schemas")).expect("folders");
        std::fs::write(root.path().join(SCHEMA_FILE), "{}").expect("a schema");
        assert_eq!(schema_path(&nested), "../../schemas/playbook.schema.json");
        assert_eq!(schema_path(root.path()), SCHEMA_FILE);
    }

    #[test]
    fn an_unknown_provider_gets_a_did_you_mean() {
        let e = render("bema", "n", "f", "s").expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "unknown provider `bema`; did you mean `beam`?"
        );
    }
}
