//! SCEP (RFC 8894) with real clients: Debian's `scep` package (micromdm's `scepclient`) enrolls,
//! waits on PENDING and renews; certmonger's `scep-submit` helper reads GetCACaps and GetCACert,
//! and its daemon enrolls through that helper (on a private session bus). OpenSSL and pkilint
//! judge the certificates.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, openssl, pkilint, run_program, tempdir, write};

/// Runs a client on a blocking thread: (success, output).
async fn run(program: &str, args: Vec<String>) -> (bool, String) {
    run_program(program, args, Vec::new()).await
}

/// `scepclient` for a device whose key, CSR and certificate live in `dir` (it renews when
/// `dir/client.pem` exists). It encrypts to every certificate GetCACert returns, which needs RSA
/// keys throughout: with a CA of another key type, it is given the RA's fingerprint (`extra`).
async fn scepclient(url: &str, dir: &Path, cn: &str, challenge: Option<&str>) -> (bool, String) {
    scepclient_with(url, dir, cn, challenge, &[]).await
}

async fn scepclient_with(url: &str, dir: &Path, cn: &str, challenge: Option<&str>, extra: &[&str]) -> (bool, String) {
    std::fs::create_dir_all(dir).unwrap();
    let mut args = vec![
        "-server-url".to_owned(),
        url.to_owned(),
        "-private-key".to_owned(),
        dir.join("key.pem").to_string_lossy().into_owned(),
        "-cn".to_owned(),
        cn.to_owned(),
        "-debug".to_owned(),
    ];
    if let Some(challenge) = challenge {
        args.extend(["-challenge".to_owned(), challenge.to_owned()]);
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    run("scepclient", args).await
}

/// GetCACert through certmonger's `scep-submit -C`, which prints the RA certificate first and
/// then the CA's: written to `dir/ra.pem` and `dir/signing-ca.pem`, whose paths are returned.
async fn ra_and_ca(url: &str, dir: &Path) -> (String, String) {
    let (ok, certs) = run(
        "/usr/lib/certmonger/scep-submit",
        vec!["-u".into(), url.to_owned(), "-C".into()],
    )
    .await;
    assert!(ok, "{certs}");
    assert_eq!(
        certs.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "RA and CA: {certs}"
    );
    let end = certs.find("-----END CERTIFICATE-----").expect("a certificate") + "-----END CERTIFICATE-----".len();
    (
        write(dir, "ra.pem", &certs[..end]),
        write(dir, "signing-ca.pem", certs[end..].trim()),
    )
}

/// A second device directory with `device`'s key and CSR but no certificate: scepclient run there
/// sends the same key, so the same transaction id.
fn same_key(device: &Path, to: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for file in ["key.pem", "csr.pem"] {
        std::fs::copy(device.join(file), to.join(file)).unwrap();
    }
    to.to_owned()
}

async fn scep_profile(app: &TestApp, body: Value) -> (Value, String) {
    let (s, v) = app.post("/api/v1/enrollment-profiles", &app.admin_key, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let challenge = v["scep_challenge"].as_str().expect("challenge").to_owned();
    (v, challenge)
}

async fn issuer_pem(app: &TestApp, dir: &Path, issuer: &str) -> String {
    let (_, v) = app.get(&format!("/api/v1/issuers/{issuer}"), &app.admin_key).await;
    write(dir, "ca.pem", v["certificate_pem"].as_str().unwrap())
}

fn judge(ca: &str, cert: &str) {
    let (ok, out) = openssl(&["verify", "-CAfile", ca, cert]);
    assert!(ok && out.contains(": OK"), "{out}");
    pkilint("lint_pkix_cert", &[], cert);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scepclient_enrolls_with_the_challenge_and_renews_with_its_certificate() {
    let dir = tempdir();
    let app = TestApp::spawn().await;
    let (_, profile) = app.pki().await;
    let issuer = id(&app.issuer("rsa-root", "rsa-2048").await);
    let ca = issuer_pem(&app, &dir, &issuer).await;
    let (_, challenge) = scep_profile(
        &app,
        json!({ "name": "mdm", "protocol": "scep", "label": "mdm", "issuer_id": issuer, "profile_id": profile }),
    )
    .await;
    let url = format!("{}/scep/mdm", app.base);

    // certmonger's helper reads the capabilities and the RA and CA certificates.
    let (ok, caps) = run(
        "/usr/lib/certmonger/scep-submit",
        vec!["-u".into(), url.clone(), "-c".into()],
    )
    .await;
    assert!(ok, "{caps}");
    for cap in ["POSTPKIOperation", "SHA-256", "AES", "SCEPStandard", "Renewal"] {
        assert!(caps.lines().any(|l| l.trim() == cap), "{cap} missing from {caps}");
    }
    let (ra, _) = ra_and_ca(&url, &dir).await;
    let (_, ra_text) = openssl(&["x509", "-in", &ra, "-noout", "-subject", "-ext", "keyUsage"]);
    assert!(ra_text.contains("mdm SCEP RA"), "the RA comes first: {ra_text}");
    judge(&ca, &ra);

    // A wrong challenge is a FAILURE, audited; no certificate.
    let (ok, out) = scepclient(
        &url,
        &dir.join("intruder"),
        "intruder.example.net",
        Some("not-the-challenge"),
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("badRequest"), "{out}");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 0);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'enrollment.failed' AND actor = 'scep:mdm' AND details->>'reason' = 'bad_challenge' AND protocol = 'scep'").await,
        1
    );

    // The right challenge: a certificate, judged by OpenSSL and pkilint.
    let device = dir.join("device");
    let (ok, out) = scepclient(&url, &device, "device-1.example.net", Some(&challenge)).await;
    assert!(ok, "{out}");
    let cert = device.join("client.pem").to_string_lossy().into_owned();
    judge(&ca, &cert);
    // The common name is certified as a subjectAltName too.
    let (_, text) = openssl(&["x509", "-in", &cert, "-noout", "-text"]);
    assert!(text.contains("DNS:device-1.example.net"), "{text}");
    assert_eq!(
        app.scalar_text("SELECT source || ' ' || requested_by || ' ' || status FROM certificates")
            .await,
        "scep scep:mdm active"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'certificate.issue' AND actor = 'scep:mdm' AND protocol = 'scep'").await,
        1
    );

    // The same request again (same key, so the same transaction id: a replay, or a device that
    // lost its certificate) is answered from the first one: the same certificate, nothing new.
    let replay = same_key(&device, &dir.join("replay"));
    let (ok, out) = scepclient(&url, &replay, "device-1.example.net", Some(&challenge)).await;
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(replay.join("client.pem")).unwrap().trim(),
        std::fs::read_to_string(&cert).unwrap().trim()
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 1);

    // Renewal: the client signs a RenewalReq with its certificate, no challenge.
    let (ok, out) = scepclient(&url, &device, "device-1.example.net", None).await;
    assert!(ok, "{out}");
    judge(&ca, &cert);
    assert_eq!(
        app.scalar_text("SELECT string_agg(status || '/' || source, ',' ORDER BY created_at) FROM certificates")
            .await,
        "renewed/scep,active/scep"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'certificate.renew' AND actor = 'scep:mdm' AND protocol = 'scep'").await,
        1
    );
    // The renewed certificate renews nothing.
    let old = same_key(&device, &dir.join("old"));
    let first = app
        .scalar_text("SELECT certificate_pem FROM certificates WHERE status = 'renewed'")
        .await;
    std::fs::write(old.join("client.pem"), first).unwrap();
    let (ok, out) = scepclient(&url, &old, "device-1.example.net", None).await;
    assert!(!ok, "{out}");
    assert!(out.contains("badCertID"), "{out}");

    // The RA is shown on the profile, and an admin can replace it; clients pick the new one up.
    let ep_id = app
        .scalar_text("SELECT id::text FROM enrollment_profiles WHERE name = 'mdm'")
        .await;
    let (_, shown) = app
        .get(&format!("/api/v1/enrollment-profiles/{ep_id}"), &app.admin_key)
        .await;
    let old_ra = shown["scep_ra_certificate_pem"].as_str().unwrap().to_owned();
    assert_eq!(old_ra.trim(), std::fs::read_to_string(&ra).unwrap().trim());
    let (s, rotated) = app
        .post(
            &format!("/api/v1/enrollment-profiles/{ep_id}/rotate-scep-ra"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let new_ra = rotated["scep_ra_certificate_pem"].as_str().unwrap();
    assert_ne!(new_ra, old_ra);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'enrollment_profile.scep_ra_rotated' AND actor = 'bootstrap-admin'").await,
        1
    );
    let (ok, out) = scepclient(
        &url,
        &dir.join("after-rotation"),
        "device-2.example.net",
        Some(&challenge),
    )
    .await;
    assert!(ok, "{out}");
    let (s, v) = app
        .post(
            &format!("/api/v1/enrollment-profiles/{ep_id}/rotate-scep-ra"),
            &app.key("ops", "operator").await,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_challenge_enrolls_one_device() {
    let dir = tempdir();
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let (_, challenge) = scep_profile(
        &app,
        json!({ "name": "kiosks", "protocol": "scep", "label": "kiosks", "is_default": true,
                "issuer_id": issuer, "profile_id": profile, "scep": { "one_time": true } }),
    )
    .await;
    // The default profile, at the bare path. The CA's key is ECDSA, so the client is told which
    // certificate is the RA's by its fingerprint, as scepclient documents for NDES.
    let url = format!("{}/scep", app.base);
    let (ra, _) = ra_and_ca(&url, &dir).await;
    let (_, fingerprint) = openssl(&["x509", "-in", &ra, "-noout", "-fingerprint", "-sha256"]);
    let fingerprint = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    let pin = ["-ca-fingerprint", fingerprint.as_str()];
    let (ok, out) = scepclient_with(&url, &dir.join("a"), "kiosk-a.example.net", Some(&challenge), &pin).await;
    assert!(ok, "{out}");
    let (ok, out) = scepclient_with(&url, &dir.join("b"), "kiosk-b.example.net", Some(&challenge), &pin).await;
    assert!(!ok, "{out}");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 1);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'enrollment.failed' AND details->>'reason' = 'challenge_used'").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_under_approval_is_pending_until_approved_then_the_client_gets_it() {
    let dir = tempdir();
    let app = TestApp::spawn().await;
    let issuer = id(&app.issuer("devices", "rsa-2048").await);
    let ca = issuer_pem(&app, &dir, &issuer).await;
    let profile = id(&app
        .profile(
            json!({ "name": "gated", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["rsa-2048"],
                         "ekus": ["client_auth"], "requires_approval": true }),
        )
        .await);
    let (_, challenge) = scep_profile(
        &app,
        json!({ "name": "gated", "protocol": "scep", "label": "gated", "issuer_id": issuer, "profile_id": profile }),
    )
    .await;
    let url = format!("{}/scep/gated", app.base);
    let device = dir.join("device");
    let client = {
        let (url, device, challenge) = (url.clone(), device.clone(), challenge.clone());
        tokio::spawn(async move { scepclient(&url, &device, "gated-1.example.net", Some(&challenge)).await })
    };
    // The client got PENDING: a job waits, filed by the SCEP actor.
    let mut job = String::new();
    for _ in 0..200 {
        if app.scalar_i64("SELECT count(*) FROM jobs").await == 1 {
            job = app.scalar_text("SELECT id::text FROM jobs").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!job.is_empty(), "no job was filed");
    assert_eq!(app.scalar_text("SELECT requested_by FROM jobs").await, "scep:gated");
    let (s, v) = app
        .post(&format!("/api/v1/jobs/{job}/approve"), &app.admin_key, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // scepclient asks again 30 s after PENDING, with the same transaction, and gets SUCCESS.
    let (ok, out) = tokio::time::timeout(Duration::from_secs(90), client)
        .await
        .expect("scepclient finishes after the approval")
        .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("PENDING"), "{out}");
    judge(&ca, &device.join("client.pem").to_string_lossy());
    assert_eq!(
        app.scalar_text("SELECT source || ' ' || requested_by FROM certificates")
            .await,
        "scep scep:gated"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM jobs").await,
        1,
        "polling filed nothing new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_messages_get_http_errors_and_unknown_operations_are_named() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    scep_profile(
        &app,
        json!({ "name": "mdm", "protocol": "scep", "label": "mdm", "issuer_id": issuer, "profile_id": profile }),
    )
    .await;
    let url = format!("{}/scep/mdm", app.base);
    for body in [&b""[..], b"garbage", &[0x30, 0x80, 0x00][..], &[0x30; 300][..]] {
        let r = app
            .http
            .post(format!("{url}?operation=PKIOperation"))
            .header("content-type", "application/x-pki-message")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "bad_message", "{v}");
    }
    let r = app
        .http
        .get(format!("{url}?operation=PKIOperation&message=%%%"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .get(format!("{url}?operation=GetNextCACert"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("unknown_operation"));
    let r = app
        .http
        .get(format!("{}/scep/nosuch?operation=GetCACaps", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .http
        .post(format!("{url}?operation=PKIOperation"))
        .body(vec![0u8; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 0);
    assert!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'enrollment.failed' AND details->>'reason' = 'bad_message'").await >= 1
    );
}

/// certmonger itself, on a private session bus (the machine has no system bus): `getcert
/// add-scep-ca` and `getcert request -w` drive its daemon, which runs `scep-submit` to enroll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certmonger_enrolls_through_its_daemon_on_a_session_bus() {
    let dir = tempdir();
    let app = TestApp::spawn().await;
    let (_, profile) = app.pki().await;
    let issuer = id(&app.issuer("rsa-root", "rsa-2048").await);
    let ca = issuer_pem(&app, &dir, &issuer).await;
    let (_, challenge) = scep_profile(
        &app,
        json!({ "name": "servers", "protocol": "scep", "label": "servers", "issuer_id": issuer, "profile_id": profile }),
    )
    .await;
    let url = format!("{}/scep/servers", app.base);
    // The RA and CA certificates, from GetCACert, for `add-scep-ca -r/-N` (certmonger otherwise
    // fetches them in the background, and a request submitted first waits for them).
    let (ra, signing_ca) = ra_and_ca(&url, &dir).await;
    let (key, cert) = (dir.join("cm.key"), dir.join("cm.pem"));
    let script = write(
        &dir,
        "enroll.sh",
        format!(
            "getcert list-cas -s >/dev/null\n\
             getcert add-scep-ca -s -c certctl -u '{url}' -r '{ra}' -N '{signing_ca}'\n\
             getcert request -s -c certctl -k '{}' -f '{}' -N CN=cm-1.example.net -D cm-1.example.net -L '{challenge}' -w -v\n\
             getcert list -s\n\
             grep -h -E '^(ca_error|state|ca_)' '{}'/requests/* '{}'/cas/* || true\n",
            key.display(),
            cert.display(),
            dir.join("certmonger").display(),
            dir.join("certmonger").display(),
        ),
    );
    // certmonger keeps its CAs and requests under /var/lib/certmonger unless told otherwise:
    // this run's state stays in the test's directory.
    let state = dir.join("certmonger");
    let mut args = vec!["120".to_owned(), "env".to_owned()];
    for (var, sub) in [
        ("CERTMONGER_CAS_DIR", "cas"),
        ("CERTMONGER_REQUESTS_DIR", "requests"),
        ("CERTMONGER_LOCAL_CA_DIR", "local"),
        ("CERTMONGER_TMPDIR", "tmp"),
        ("CERTMONGER_CONFIG_DIR", "config"),
    ] {
        std::fs::create_dir_all(state.join(sub)).unwrap();
        args.push(format!("{var}={}", state.join(sub).display()));
    }
    args.push(format!("CERTMONGER_SYSTEM_LOCK_FILE={}", state.join("lock").display()));
    args.push(format!("HOME={}", state.display()));
    args.extend(["dbus-run-session".to_owned()]);
    let (ok, out) = run(
        "timeout",
        [
            args,
            vec![
                "--".into(),
                "certmonger".into(),
                "-s".into(),
                "-n".into(),
                "-c".into(),
                format!("bash {script}"),
            ],
        ]
        .concat(),
    )
    .await;
    assert!(ok, "{out}");
    if !cert.exists() {
        let refusals = app.scalar_text("SELECT coalesce(string_agg(details::text, E'\\n'), 'none') FROM audit_events WHERE action = 'enrollment.failed'",
        )
        .await;
        panic!("certmonger wrote no certificate:\n{out}\nrefusals: {refusals}");
    }
    let cert = cert.to_string_lossy().into_owned();
    judge(&ca, &cert);
    assert_eq!(
        app.scalar_text("SELECT source || ' ' || requested_by || ' ' || common_name FROM certificates")
            .await,
        "scep scep:servers cm-1.example.net"
    );
}
