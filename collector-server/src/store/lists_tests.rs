//! Inventory lists under `fsck` and retention, on both backends: a damaged stored list
//! is named by `fsck`; a prune deletes the lists only pruned reports name and keeps
//! those a kept report names.

use super::reporting::{self, Stores};
use super::*;
use crate::testkit::enroll;

const T0: Millis = 1_790_000_000_000;

/// A list document of `n` packages at `version`, and its address.
fn list(n: usize, version: &str) -> (String, Vec<u8>) {
    use attest_proto::inventory::{InventoryList, Package, address};
    let doc = InventoryList::new(
        (0..n)
            .map(|i| Package {
                name: format!("pkg-{i}"),
                version: version.into(),
                architecture: "amd64".into(),
            })
            .collect(),
    )
    .to_bytes()
    .unwrap();
    (address(&doc), doc)
}

/// Runs `sql` (`?` placeholders, one text bind) on the database directly.
async fn raw(url: &str, sql: &str, bind: &str) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(&sql.replace('?', "$1"))
            .bind(bind)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).bind(bind).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// Damages one stored list's body and another's size: `fsck` names both.
async fn fsck_reads_the_lists(url: &str, stores: &Stores) {
    let store = stores.store.as_ref();
    let agents = enroll(store, 9, 1, T0).await.unwrap();
    let lists = [list(30, "1.0"), list(30, "2.0"), list(5, "1.0")];
    for (address, document) in &lists {
        store
            .put_inventory_list(&NewInventoryList {
                address: address.clone(),
                agent_id: agents[0].agent_id.clone(),
                document: document.clone(),
                received_at: T0,
            })
            .await
            .unwrap();
    }
    let clean = store.integrity_check().await.unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!((clean.inventory_lists, clean.damaged_lists.len()), (3, 0));

    let body = if url.starts_with("postgres") {
        "UPDATE inventory_lists SET body = '\\x28b52ffd00'::bytea WHERE address = ?"
    } else {
        "UPDATE inventory_lists SET body = X'28B52FFD00' WHERE address = ?"
    };
    raw(url, body, &lists[0].0).await;
    raw(
        url,
        "UPDATE inventory_lists SET size = size + 1 WHERE address = ?",
        &lists[1].0,
    )
    .await;
    let report = store.integrity_check().await.unwrap();
    assert_eq!(report.inventory_lists, 3);
    let mut damaged = vec![lists[0].0.clone(), lists[1].0.clone()];
    damaged.sort();
    assert_eq!(report.damaged_lists, damaged);
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    for address in &damaged {
        assert!(
            report.problems.iter().any(|p| p.contains(address.as_str())),
            "{:?}",
            report.problems
        );
    }
}

#[tokio::test]
async fn sqlite_fsck_reads_the_lists() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = reporting::open(&url, 4).await.unwrap();
    fsck_reads_the_lists(&url, &stores).await;
    stores.store.close().await;
}

#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_fsck_reads_the_lists() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "lists")
        .await
        .unwrap();
    let stores = reporting::open(&url, 4).await.unwrap();
    fsck_reads_the_lists(&url, &stores).await;
    stores.store.close().await;
}
