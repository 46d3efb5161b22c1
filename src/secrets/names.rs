//! Which names hold credentials: environment variables judged by their words, and header names
//! whose values are credentials or per-request signatures whatever they contain.

/// Whether an environment variable holds a credential, judged by its name: a provider's
/// (`GEELARK_API_KEY`, `DEEPWORK_TOKEN`, `BEAM_API_KEY_PROD`) or one a playbook reads with `env()`,
/// whose value is then redacted like a `secret()`.
///
/// The name is cut into words at `_`, `-` and `.`, in any case. It is a credential if a word is
/// `KEY`, `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`, `PASS`, `PASSPHRASE`, `CREDENTIAL`,
/// `CREDENTIALS`, `CREDS`, `AUTH`, `OAUTH`, `AUTHORIZATION` or `COOKIE`, or ends in `KEY`, `TOKEN`,
/// `SECRET` or `PASSWORD` (`APIKEY`, `ACCESSTOKEN`, `CLIENTSECRET`). `PWD` is not one (the shell's
/// working directory), nor `AUTHOR` (`GIT_AUTHOR_NAME`), nor an `ID` or a `URL`.
pub fn is_credential_name(name: &str) -> bool {
    name.to_ascii_uppercase()
        .split(['_', '-', '.'])
        .any(|word| {
            matches!(
                word,
                "PASSWD"
                    | "PASS"
                    | "PASSPHRASE"
                    | "CREDENTIAL"
                    | "CREDENTIALS"
                    | "CREDS"
                    | "AUTH"
                    | "OAUTH"
                    | "AUTHORIZATION"
                    | "COOKIE"
            ) || ["KEY", "TOKEN", "SECRET", "PASSWORD"]
                .iter()
                .any(|end| word.ends_with(end))
        })
}

/// Header names whose values are signatures made anew for every request (GeeLark's `sign`).
pub fn is_signature_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("sign")
}

/// Header names whose values are credentials whatever they contain.
pub fn is_sensitive_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "authorization"
            | "x-api-key"
            | "api-key"
            | "apikey"
            | "sign"
            | "cookie"
            | "proxy-authorization"
    )
}
