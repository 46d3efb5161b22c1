//! Property tests of the redactor: a registered secret is gone from any text, in any of the forms
//! it is sent in.

use proptest::prelude::*;

use crate::secrets::Redactor;

use super::config;

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_registered_secret_never_survives_redaction(
        secret in "[ -~]{8,24}",
        prefix in ".{0,20}",
        suffix in ".{0,20}",
    ) {
        use base64::Engine;
        let r = Redactor::default();
        r.register(&secret);
        let json = serde_json::to_string(&secret).unwrap_or_default();
        let forms = [
            secret.clone(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            json.trim_matches('"').to_string(),
            base64::engine::general_purpose::STANDARD.encode(&secret),
            base64::engine::general_purpose::URL_SAFE.encode(&secret),
        ];
        for form in forms {
            let out = r.redact(&format!("{prefix}{form}{suffix}"));
            prop_assert!(out.contains(crate::secrets::REDACTED), "{form:?} kept in {out:?}");
            prop_assert!(!out.contains(secret.as_str()), "{secret:?} in {out:?}");
        }
    }
}
