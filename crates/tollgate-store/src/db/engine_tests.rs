//! The database layer on both engines: statements, transactions and rows by name.

use super::*;
use crate::testing::TestDatabase;

async fn each_engine() -> Vec<(TestDatabase, Db)> {
    let mut out = Vec::new();
    for t in TestDatabase::all().await {
        let db = Db::connect(&ConnectOptions::new(&t.url))
            .await
            .expect("connect");
        query("CREATE TABLE scratch (id BIGINT PRIMARY KEY, name TEXT, score BIGINT)")
            .execute(db.write())
            .await
            .expect("create a table");
        out.push((t, db));
    }
    out
}

row! {
    #[derive(Debug)]
    struct Scratch {
        name: Option<String>,
        id: i64,
    }
}

#[tokio::test]
async fn a_row_decodes_by_column_name_whatever_the_select_order() {
    for (t, db) in each_engine().await {
        query("INSERT INTO scratch (id, name, score) VALUES ($1, $2, $3)")
            .bind(7_i64)
            .bind("seven")
            .bind(70_i64)
            .execute(db.write())
            .await
            .expect("insert");
        for select in [
            "SELECT id, name FROM scratch",
            "SELECT name, score, id FROM scratch",
        ] {
            let row: Scratch = query(select).fetch_one_as(&db).await.expect("one row");
            assert_eq!(
                (row.id, row.name.as_deref()),
                (7, Some("seven")),
                "{}",
                t.engine
            );
        }
        let missing = query("SELECT id FROM scratch")
            .fetch_one_as::<Scratch>(&db)
            .await;
        assert!(
            matches!(missing, Err(StoreError::Invariant(ref m)) if m.contains("name")),
            "{}: a missing column is named: {missing:?}",
            t.engine
        );
        db.close().await;
    }
}

#[tokio::test]
async fn numbered_parameters_bind_by_their_number_in_any_order() {
    for (t, db) in each_engine().await {
        query("INSERT INTO scratch (score, name, id) VALUES ($3, $2, $1)")
            .bind(1_i64)
            .bind("one")
            .bind(10_i64)
            .execute(db.write())
            .await
            .expect("insert");
        let row = query("SELECT score FROM scratch WHERE id = $1 AND name = $2")
            .bind(1_i64)
            .bind("one")
            .fetch_one(&db)
            .await
            .expect("found");
        assert_eq!(row.get::<i64>("score").expect("score"), 10, "{}", t.engine);
        db.close().await;
    }
}

#[tokio::test]
async fn a_transaction_dropped_without_a_commit_leaves_nothing() {
    for (t, db) in each_engine().await {
        {
            let mut tx = db.begin_write().await.expect("begin");
            query("INSERT INTO scratch (id) VALUES (1)")
                .execute(&mut tx)
                .await
                .expect("insert");
            let inside = query("SELECT COUNT(*) AS n FROM scratch")
                .fetch_one(&mut tx)
                .await
                .expect("count");
            assert_eq!(inside.get::<i64>("n").expect("n"), 1, "{}", t.engine);
        }
        let mut tx = db.begin_write().await.expect("the writer is free again");
        let after = query("SELECT COUNT(*) AS n FROM scratch")
            .fetch_one(&mut tx)
            .await
            .expect("count");
        assert_eq!(after.get::<i64>("n").expect("n"), 0, "{}", t.engine);
        tx.commit().await.expect("commit");
        db.close().await;
    }
}

#[tokio::test]
async fn a_failed_statement_fails_its_transaction_and_the_next_one_starts_clean() {
    for (t, db) in each_engine().await {
        let mut tx = db.begin_write().await.expect("begin");
        query("INSERT INTO scratch (id) VALUES (1)")
            .execute(&mut tx)
            .await
            .expect("insert");
        let duplicate = query("INSERT INTO scratch (id) VALUES (1)")
            .execute(&mut tx)
            .await;
        assert!(
            matches!(duplicate, Err(StoreError::Conflict(_))),
            "{}: {duplicate:?}",
            t.engine
        );
        drop(tx);
        let n = query("SELECT COUNT(*) AS n FROM scratch")
            .fetch_one(&db)
            .await
            .expect("count")
            .get::<i64>("n")
            .expect("n");
        assert_eq!(n, 0, "{}", t.engine);
        db.close().await;
    }
}

#[tokio::test]
async fn sqlite_reads_never_write() {
    let t = TestDatabase::sqlite().await;
    let db = Db::connect(&ConnectOptions::new(&t.url))
        .await
        .expect("connect");
    let refused = query("CREATE TABLE sneaky (id BIGINT)").execute(&db).await;
    assert!(refused.is_err(), "a read connection wrote: {refused:?}");
    db.close().await;
}

#[tokio::test]
async fn a_closed_sqlite_store_refuses_work_instead_of_hanging() {
    let t = TestDatabase::sqlite().await;
    let db = Db::connect(&ConnectOptions::new(&t.url))
        .await
        .expect("connect");
    db.close().await;
    assert!(matches!(
        db.begin_write().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        query("SELECT 1 AS one").fetch_one(&db).await,
        Err(StoreError::Unavailable(_))
    ));
}
