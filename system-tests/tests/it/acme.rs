//! The groundwork of the ACME server: nonces shared by every api-server replica, each accepted once.

use certctl_shared::repo::acme;
use chrono::{Duration, Utc};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_accepted_once_by_whichever_replica_sees_it_and_never_after_it_expires() {
    let app = TestApp::spawn().await;
    // A second connection pool stands for a second api-server replica.
    let other = sea_orm::Database::connect(&app.db_url).await.unwrap();
    let in_a_minute = Utc::now() + Duration::minutes(1);
    acme::issue_nonce(&app.db, "n-1", in_a_minute).await.unwrap();
    assert!(
        acme::use_nonce(&other, "n-1").await.unwrap(),
        "issued by one, used at another"
    );
    assert!(!acme::use_nonce(&app.db, "n-1").await.unwrap(), "used once only");
    assert!(!acme::use_nonce(&app.db, "never-issued").await.unwrap());

    // Racing requests with the same nonce: exactly one wins.
    acme::issue_nonce(&app.db, "n-race", in_a_minute).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..16 {
        let db = if i % 2 == 0 { app.db.clone() } else { other.clone() };
        racers.push(tokio::spawn(
            async move { acme::use_nonce(&db, "n-race").await.unwrap() },
        ));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);

    // Expired nonces are refused and swept.
    acme::issue_nonce(&app.db, "n-old", Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    acme::issue_nonce(&app.db, "n-live", in_a_minute).await.unwrap();
    assert!(!acme::use_nonce(&app.db, "n-old").await.unwrap());
    assert_eq!(acme::sweep_nonces(&app.db).await.unwrap(), 1);
    assert!(acme::use_nonce(&app.db, "n-live").await.unwrap());
    other.close().await.unwrap();
}
