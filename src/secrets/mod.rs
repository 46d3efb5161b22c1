//! Where `env()` and `secret()` values come from, and the redactor that keeps secrets out of every
//! byte runbook writes.
//!
//! Values are looked up in an overlay (the sandbox's credentials under `--sandbox`), then the process
//! environment, then a `.env` file in the working directory. The `.env` file is read once and never
//! written into the process environment.
//!
//! Invariants of the redactor:
//! - A registered value (a `secret()`, an `env()` of a credential name, a provider's credential, a
//!   credential header) is replaced wherever it appears: as it is, in the encodings runbook and
//!   APIs write it (percent-encoded in any flavour and letter case, form-encoded, JSON-escaped,
//!   HTML-escaped, base64 at any alignment inside a larger blob), and as any start of it of
//!   [`PREFIX_CHARS`] characters or more, which is redacted together with all of the value that
//!   follows it. (A header's `Bearer abc` counts only whole; its token by itself as any value.)
//! - Text is redacted before it is cut: every excerpt goes through [`Redactor::excerpt`], so a cut
//!   never leaves the start of a secret behind and never splits the marker.
//! - What is not promised: a stretch from the middle or the end of a secret that the API echoed
//!   without its start, and values shorter than 4 characters (not credentials; redacting them
//!   would mangle output).
//!
//! Rooms: [`env`] (where values come from), [`redactor`] (the registry and the replacing),
//! [`encodings`] (the forms a secret is written in, and text decoded back), [`names`] (which
//! variables and headers hold credentials).

mod encodings;
mod env;
mod names;
mod redactor;
#[cfg(test)]
mod tests;

pub use env::EnvSource;
pub use names::{is_credential_name, is_sensitive_header, is_signature_header};
pub use redactor::{PREFIX_CHARS, REDACTED, Redactor};
