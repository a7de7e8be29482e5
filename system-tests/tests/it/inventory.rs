//! The inventory at scale: the dashboard's maintained counts stay exact, list totals are counted
//! up to a limit and estimated (and labelled) beyond it, and the search, serial and cursor paths
//! the large-inventory indexes serve return what the plain definitions would.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;

use certctl_shared::model::CertificateStatus;
use certctl_shared::repo::certificates::{self, Counts};

use crate::helpers::*;

/// Stores `n` copies of the certificate `template` directly in SQL, named `{prefix}-{g}`, with
/// `not_after` and `created_at` given as SQL expressions of `g` (1 to `n`) and the status as one.
async fn seed(app: &TestApp, template: &str, n: u32, prefix: &str, status: &str, not_after: &str, created_at: &str) {
    app.scalar_i64(&format!(
        "WITH ins AS (INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, \
           public_key_der, status, not_before, not_after, certificate_der, certificate_pem, requested_by, created_at) \
         SELECT gen_random_uuid(), issuer_id, profile_id, md5('{prefix}' || g), '{prefix}-' || g || '.example', \
           ARRAY['{prefix}-' || g || '.example', 'alt-{prefix}-' || g || '.example'], key_algorithm, public_key_der, \
           {status}, not_before, {not_after}, certificate_der, certificate_pem, requested_by, {created_at} \
         FROM certificates, generate_series(1, {n}) AS g WHERE id = '{template}' RETURNING 1) \
         SELECT count(*) FROM ins"
    ))
    .await;
}

/// The states counted by their expiry, as SQL literals.
const LIVE: &str = "'active', 'expiring', 'renewal_in_progress'";

/// The counts as the definitions say, straight from `certificates`.
async fn counted(app: &TestApp, now: chrono::DateTime<Utc>, soon: chrono::DateTime<Utc>) -> Counts {
    let (now, soon) = (now.to_rfc3339(), soon.to_rfc3339());
    let mut by_status = Vec::new();
    for status in CertificateStatus::names() {
        let n = app
            .scalar_i64(&format!("SELECT count(*) FROM certificates WHERE status = '{status}'"))
            .await;
        if n != 0 {
            by_status.push((status.to_owned(), n));
        }
    }
    by_status.sort();
    Counts {
        by_status,
        expiring: app
            .scalar_i64(&format!(
                "SELECT count(*) FROM certificates WHERE status IN ({LIVE}) AND not_after >= '{now}' AND not_after < '{soon}'"
            ))
            .await,
        expired: app
            .scalar_i64(&format!(
                "SELECT count(*) FROM certificates WHERE status IN ({LIVE}) AND not_after < '{now}'"
            ))
            .await,
    }
}

async fn maintained(app: &TestApp, now: chrono::DateTime<Utc>, soon: chrono::DateTime<Utc>) -> Counts {
    let mut c = certificates::counts(&app.db, now, soon).await.unwrap();
    c.by_status.sort();
    c
}

/// Compares the maintained counts with the definitions at several instants: now, the edges of
/// the hours around now and around the window's end, and later on.
async fn assert_exact(app: &TestApp, when: &str) {
    let now = Utc::now();
    let hour = |t: chrono::DateTime<Utc>| t - Duration::seconds(t.timestamp().rem_euclid(3600));
    let instants = [
        now,
        hour(now) + Duration::hours(1),
        hour(now) + Duration::hours(1) - Duration::microseconds(1),
        now + Duration::minutes(90),
        now + Duration::days(3),
    ];
    for at in instants {
        for window in [Duration::days(30), Duration::minutes(10), Duration::zero()] {
            let soon = at + window;
            assert_eq!(
                maintained(app, at, soon).await,
                counted(app, at, soon).await,
                "{when}: at {at} with a window of {window}"
            );
        }
    }
}

#[tokio::test]
async fn the_dashboard_counts_stay_exact_as_certificates_change() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let operator = app.key("op", "operator").await;
    let mut issued = Vec::new();
    for i in 0..4 {
        issued.push(app.issue(&issuer, &profile, &format!("tally-{i}.example")).await);
    }
    assert_exact(&app, "after issuance").await;
    let (s, _) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id(&issued[0])),
            &operator,
            serde_json::json!({ "reason": "superseded" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&issued[1])),
            &operator,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_exact(&app, "after a revocation and a renewal").await;

    // Expiries spread over the last three days and the next forty, minute by minute around the
    // hour boundaries, in each live state; some long expired, some revoked or marked expired in
    // bulk.
    let template = id(&issued[2]);
    seed(
        &app,
        &template,
        3000,
        "spread",
        "(ARRAY['active', 'expiring', 'renewal_in_progress'])[1 + g % 3]",
        "now() + (g - 4320) * interval '1 minute' * 13",
        "now()",
    )
    .await;
    seed(
        &app,
        &template,
        200,
        "edge",
        "'active'",
        "to_timestamp(floor(extract(epoch FROM now()) / 3600) * 3600) + (g - 100) * interval '37 seconds'",
        "now()",
    )
    .await;
    seed(
        &app,
        &template,
        50,
        "old",
        "'active'",
        "now() - interval '400 days' + g * interval '1 hour'",
        "now()",
    )
    .await;
    assert_exact(&app, "after seeding, nothing folded").await;
    certificates::fold_tally(&app.db, Utc::now(), 7).await.unwrap();
    assert_exact(&app, "after folding part of the changes").await;
    certificates::fold_tally(&app.db, Utc::now(), 1_000_000).await.unwrap();
    assert_exact(&app, "after folding every change").await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM certificate_tally_changes").await,
        0
    );
    // Whole past hours are merged: the tally is a row per future hour (about 41 days' worth),
    // not one per hour of history.
    assert!(app.scalar_i64("SELECT count(*) FROM certificate_tally").await < 1100);

    app.scalar_i64(
        "WITH u AS (UPDATE certificates SET status = 'revoked' WHERE common_name LIKE 'spread-%' \
           AND right(serial_hex, 1) IN ('a', 'b') RETURNING 1) SELECT count(*) FROM u",
    )
    .await;
    app.scalar_i64(
        "WITH u AS (UPDATE certificates SET status = 'expired' WHERE common_name LIKE 'old-%' \
           AND right(serial_hex, 1) IN ('e', 'f') RETURNING 1) SELECT count(*) FROM u",
    )
    .await;
    app.scalar_i64(
        "WITH u AS (UPDATE certificates SET not_after = not_after + interval '2 days' \
           WHERE common_name LIKE 'edge-%' AND right(serial_hex, 1) = 'c' RETURNING 1) SELECT count(*) FROM u",
    )
    .await;
    // An update that changes neither status nor expiry records nothing.
    let before = app.scalar_i64("SELECT count(*) FROM certificate_tally_changes").await;
    app.scalar_i64("WITH u AS (UPDATE certificates SET requested_by = 'x' RETURNING 1) SELECT count(*) FROM u")
        .await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM certificate_tally_changes").await,
        before
    );
    app.scalar_i64(
        "WITH d AS (DELETE FROM certificates WHERE common_name LIKE 'old-%' AND right(serial_hex, 1) = 'd' \
           RETURNING 1) SELECT count(*) FROM d",
    )
    .await;
    assert_exact(&app, "after bulk updates and deletes").await;
    certificates::fold_tally(&app.db, Utc::now(), 1_000_000).await.unwrap();
    assert_exact(&app, "after folding them").await;
    // The API's summary says the same as the definitions.
    let (_, summary) = app.get("/api/v1/stats/summary", &operator).await;
    let now = Utc::now();
    let exact = counted(&app, now, now + Duration::days(30)).await;
    let status = |s: &str| exact.by_status.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    assert_eq!(summary["certificates"]["active"], status("active"));
    assert_eq!(summary["certificates"]["revoked"], status("revoked"));
    assert_eq!(summary["certificates"]["expiring"], status("expiring"));
    assert_eq!(
        summary["certificates"]["renewal_in_progress"],
        status("renewal_in_progress")
    );
    assert_eq!(summary["certificates"]["renewed"], status("renewed"));
    assert_eq!(summary["expiring_soon"], exact.expiring);
    // Live ones past `not_after`, and those already marked expired.
    assert_eq!(summary["certificates"]["expired"], exact.expired + status("expired"));

    // Folding later (as a worker will) merges hours that have since passed, and stays exact.
    certificates::fold_tally(&app.db, Utc::now() + Duration::hours(5), 1_000_000)
        .await
        .unwrap();
    let later = Utc::now() + Duration::hours(5);
    assert_eq!(
        maintained(&app, later, later + Duration::days(30)).await,
        counted(&app, later, later + Duration::days(30)).await
    );

    // TRUNCATE (a test-suite reset) empties the tally too.
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, "TRUNCATE certificates CASCADE")
        .await
        .unwrap();
    assert_eq!(maintained(&app, now, now + Duration::days(30)).await, Counts::default());
}

fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["common_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_count_exactly_up_to_the_limit_then_estimate_and_say_so() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "template.example").await;
    seed(&app, &id(&cert), 10_100, "many", "'active'", "not_after", "now()").await;
    seed(&app, &id(&cert), 30, "few", "'revoked'", "not_after", "now()").await;
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, "ANALYZE certificates")
        .await
        .unwrap();

    let (s, all) = app.get("/api/v1/certificates?limit=5", &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all["total_estimated"], true, "{}", all["total"]);
    let estimate = all["total"].as_u64().unwrap();
    // The planner's estimate after ANALYZE: never below the limit, and near the truth.
    assert!((10_001..=12_000).contains(&estimate), "{estimate}");

    let (_, revoked) = app
        .get("/api/v1/certificates?status=revoked&limit=5", &app.admin_key)
        .await;
    assert_eq!(
        (revoked["total"].as_u64(), revoked["total_estimated"].as_bool()),
        (Some(30), Some(false))
    );

    // Exactly at the limit the count is still exact.
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "DELETE FROM certificates WHERE common_name LIKE 'many-%' \
       AND split_part(split_part(common_name, '-', 2), '.', 1)::int > 9969",
    )
    .await
    .unwrap();
    let (_, at_limit) = app.get("/api/v1/certificates?limit=5", &app.admin_key).await;
    assert_eq!(
        (at_limit["total"].as_u64(), at_limit["total_estimated"].as_bool()),
        (Some(10_000), Some(false))
    );

    // The audit list follows the same rule (few rows here: exact).
    let (_, audit) = app.get("/api/v1/audit?limit=5", &app.admin_key).await;
    assert_eq!(audit["total_estimated"], false);
}

#[tokio::test]
async fn search_serial_and_cursors_find_what_the_definitions_say() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "template.example").await;
    // 120 certificates created at the very same instant: the cursor must order them by id and
    // lose none between pages.
    seed(
        &app,
        &id(&cert),
        120,
        "tie",
        "'active'",
        "not_after",
        "'2026-01-01T00:00:00Z'",
    )
    .await;
    seed(&app, &id(&cert), 40, "50%_off", "'active'", "not_after", "now()").await;

    let mut seen = Vec::new();
    let mut path = "/api/v1/certificates?limit=7&q=tie-".to_owned();
    loop {
        let (s, page) = app.get(&path, &app.admin_key).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/certificates?limit=7&q=tie-&cursor={c}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = (1..=120).map(|g| format!("tie-{g}.example")).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "every tied row exactly once");
    let by_id = app
        .scalar_text(
            "SELECT string_agg(common_name, ',' ORDER BY id DESC) FROM certificates WHERE common_name LIKE 'tie-%'",
        )
        .await;
    assert_eq!(seen.join(","), by_id, "ties are ordered by id, newest first");

    // Text search matches a SAN, case-insensitively, with `%` and `_` taken literally.
    let (_, san) = app.get("/api/v1/certificates?q=ALT-TIE-117.EX", &app.admin_key).await;
    assert_eq!(names(&san), ["tie-117.example"]);
    let (_, literal) = app.get("/api/v1/certificates?q=50%25_off-4", &app.admin_key).await;
    let mut got = names(&literal);
    got.sort();
    assert_eq!(got, ["50%_off-4.example", "50%_off-40.example"]);
    let (_, wildcard) = app.get("/api/v1/certificates?q=5_%25", &app.admin_key).await;
    assert_eq!(wildcard["total"], 0, "`_` and `%` are not wildcards");
    // Two characters: fewer than a trigram, still answered (by reading the rows).
    let (_, short) = app.get("/api/v1/certificates?q=e-11&limit=500", &app.admin_key).await;
    assert_eq!(short["total"], 11, "tie-11 and tie-110..119");

    // A serial, as openssl prints it: uppercase, with or without colons and leading zeros (one
    // that has some: the seeded serials are fixed, and a few of the 120 start with 0).
    let name = app
        .scalar_text(
            "SELECT min(common_name) FROM certificates WHERE common_name LIKE 'tie-%' AND serial_hex LIKE '0%'",
        )
        .await;
    let serial = app
        .scalar_text(&format!(
            "SELECT serial_hex FROM certificates WHERE common_name = '{name}'"
        ))
        .await;
    let upper = serial.to_uppercase();
    let colons = upper
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    for form in [
        serial.clone(),
        upper.clone(),
        colons,
        upper.trim_start_matches('0').to_owned(),
    ] {
        let (s, found) = app
            .get(&format!("/api/v1/certificates?serial={form}"), &app.admin_key)
            .await;
        assert_eq!(s, StatusCode::OK, "{form}: {found}");
        assert_eq!(names(&found), [name.as_str()], "{form}");
    }
    let (s, bad) = app.get("/api/v1/certificates?serial=xyz", &app.admin_key).await;
    assert_eq!(
        (s, bad["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
}
