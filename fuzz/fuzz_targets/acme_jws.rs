//! Fuzzes the ACME request parsers an unauthenticated client reaches: every input goes through
//! `certctl_pki::jose::parse_flattened` (the flattened JWS and its protected header), then, when
//! it parses, through the embedded-key signature check and the keyChange inner JWS; and through
//! the External Account Binding check as the binding itself. It must never panic. Run with
//! `scripts/fuzz.sh acme_jws`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(jws) = certctl_pki::jose::parse_flattened(data) {
        if let Ok(jwk) = jws.verify_embedded() {
            let _ = jwk.thumbprint();
        }
        let _ = certctl_pki::jose::verify_key_change(&jws);
        let _ = jws.payload_json::<serde_json::Value>();
    }
    if let Ok(binding) = serde_json::from_slice::<serde_json::Value>(data) {
        let key = certctl_pki::jose::Jwk::from_json(&serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }));
        if let Ok(key) = key {
            let _ = certctl_pki::jose::verify_eab(&key, &binding, "https://acme.test/new-account", |_| Some(vec![7; 32]));
        }
    }
});
