//! The success write's race, the same on both engines: many requests with one step, one
//! winner; a success racing a lock; the audit row written only by the winner.

use std::sync::{Arc, Barrier};

use super::*;
use crate::storage::test_support::{new_token, temp_storage};
use crate::storage::{bindings, migrate, tokens, users, Storage};
use crate::types::{MfaTokenUsrStat, UsrTokenStat};

/// The rows a success needs: a user, an Act token and an Act binding.
fn seed(storage: &Storage) -> Success {
    let (token_pk, user_pk, binding_pk) = storage
        .write(|c| {
            let token_pk = tokens::insert_token(c, &new_token("T1", "k", UsrTokenStat::Act, ""))?;
            let user_pk = users::insert_user(c, "", "alice", None, 0)?;
            let binding_pk =
                bindings::insert_binding(c, token_pk, user_pk, MfaTokenUsrStat::Act, None, 0)?;
            Ok::<_, Error>((token_pk, user_pk, binding_pk))
        })
        .unwrap();
    Success {
        token_pk,
        binding_pk,
        user_pk,
        inst_rt_id: String::new(),
        token_id: "T1".into(),
        usr_name: "alice".into(),
        step: 100,
        drift: 0,
        now_ms: 1,
        receipt_id: String::new(),
        audit: SuccessAudit {
            actor: "test".into(),
            audit_usr_id: None,
            audit_usr_src: None,
            audit_ws_id: None,
            tracking_id: None,
            bus_correl_id: None,
            inst_rt_id: None,
        },
    }
}

fn count(storage: &Storage, sql: &'static str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    storage
        .read(|c| Ok(diesel::RunQueryDsl::get_result::<N>(diesel::sql_query(sql), c)?.n))
        .unwrap()
}

/// Accepts `write` as a blocking caller, or with `awaited` as an async one (its own
/// runtime: the edge's path on SQLite, the blocking pool behind it on PostgreSQL).
fn accept(storage: &Storage, write: Success, awaited: bool) -> Accepted {
    if !awaited {
        return storage.accept_success("user:1", write).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(storage.accept_success_async("user:1", write))
        .unwrap()
}

/// Sixteen threads accept step 100 at once, then each a second time: one winner, fifteen
/// replays, one audit row, and the binding's receipt is the winner's. Every other thread
/// is an async caller, so both ways into the write race each other.
fn one_winner(storage: Storage) {
    let base = seed(&storage);
    let storage = Arc::new(storage);
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (storage, start) = (Arc::clone(&storage), Arc::clone(&start));
            let write = Success {
                receipt_id: format!("R{i}"),
                ..base.clone()
            };
            std::thread::spawn(move || {
                start.wait();
                let first = accept(&storage, write.clone(), i % 2 == 1);
                let again = accept(&storage, write, i % 2 == 0);
                assert!(matches!(again, Accepted::Replayed), "{again:?}");
                matches!(first, Accepted::Won).then_some(i)
            })
        })
        .collect();
    let winners: Vec<usize> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    let receipt = storage
        .read(|c| bindings::find_bound_by_token(c, "", "T1"))
        .unwrap()[0]
        .binding
        .last_receipt_id
        .clone();
    assert_eq!(
        receipt.as_deref(),
        Some(format!("R{}", winners[0]).as_str())
    );
    assert_eq!(count(&storage, "SELECT count(*) AS n FROM audit_events"), 1);
}

/// A locked binding refuses the success and writes nothing: the token's step stays.
fn refused_when_locked(storage: Storage) {
    let s = seed(&storage);
    storage
        .write(|c| bindings::update_binding_status(c, s.binding_pk, MfaTokenUsrStat::Lock, None, 2))
        .unwrap();
    let outcome = storage.accept_success("user:1", s.clone()).unwrap();
    let Accepted::StatusChanged(Some(now)) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(now.binding.status, MfaTokenUsrStat::Lock);
    assert_eq!(
        count(&storage, "SELECT max(last_step) AS n FROM tokens"),
        -1
    );
    assert_eq!(count(&storage, "SELECT count(*) AS n FROM audit_events"), 0);
}

fn postgres() -> (testkit::pg::Database, Storage) {
    let db = testkit::pg::Database::fresh("success").expect("PostgreSQL");
    let storage = Storage::open_postgres(&db.url, 20).unwrap();
    storage.read(migrate::run_pending).unwrap();
    (db, storage)
}

#[test]
fn sqlite_one_winner_per_step() {
    let (_dir, storage) = temp_storage();
    one_winner(storage);
}

#[test]
fn postgres_one_winner_per_step() {
    let (_db, storage) = postgres();
    one_winner(storage);
}

#[test]
fn sqlite_a_locked_binding_refuses_and_writes_nothing() {
    let (_dir, storage) = temp_storage();
    refused_when_locked(storage);
}

#[test]
fn postgres_a_locked_binding_refuses_and_writes_nothing() {
    let (_db, storage) = postgres();
    refused_when_locked(storage);
}

/// PostgreSQL's one statement itself: it commits a fresh step whole, and writes nothing
/// for a step taken or a binding locked (no partial write for the deciding path to undo).
#[test]
fn postgres_the_one_statement_is_all_or_nothing() {
    let (_db, storage) = postgres();
    let s = seed(&storage);
    let at_once_on = |s: &Success| storage.write_at_once(|c| at_once(c, s)).unwrap();
    assert!(at_once_on(&s), "a fresh step commits in one statement");
    assert!(!at_once_on(&s), "the same step again writes nothing");
    storage
        .write(|c| bindings::update_binding_status(c, s.binding_pk, MfaTokenUsrStat::Lock, None, 2))
        .unwrap();
    let newer = Success { step: 101, ..s };
    assert!(!at_once_on(&newer), "a locked binding writes nothing");
    assert_eq!(
        count(&storage, "SELECT max(last_step) AS n FROM tokens"),
        100
    );
    assert_eq!(count(&storage, "SELECT count(*) AS n FROM audit_events"), 1);
}

/// What each binding of a token shared by two users reads as its last success.
fn receipts(storage: &Storage) -> Vec<(String, Option<String>, Option<i64>, i32)> {
    storage
        .read(|c| bindings::find_bound_by_token(c, "", "T1"))
        .unwrap()
        .into_iter()
        .map(|b| {
            let binding = b.binding;
            let last = (binding.last_receipt_id, binding.last_authen_at);
            (b.usr_name, last.0, last.1, binding.failure_count)
        })
        .collect()
}

/// A success writes its time and receipt on the token row; each binding of a token two
/// users share still answers its own last success when the token's moves from one to the
/// other and back, a success clears the binding's failure count, and a deleted binding's
/// success is not inherited by the binding made after it.
fn shared_token(storage: Storage) {
    let alice = seed(&storage);
    let bob_pk = storage
        .write(|c| {
            let user = users::insert_user(c, "", "bob", None, 0)?;
            bindings::insert_binding(c, alice.token_pk, user, MfaTokenUsrStat::Act, None, 0)
        })
        .unwrap();
    let bob = Success {
        binding_pk: bob_pk,
        user_pk: bob_pk,
        usr_name: "bob".into(),
        ..alice.clone()
    };
    storage
        .write(|c| bindings::update_binding_failure(c, alice.binding_pk, 5, "x", 1))
        .unwrap();
    let accept = |s: &Success, step: i64, receipt: &str| {
        let s = Success {
            step,
            now_ms: step,
            receipt_id: receipt.into(),
            ..s.clone()
        };
        let outcome = storage.accept_success("token:T1", s).unwrap();
        assert!(matches!(outcome, Accepted::Won), "{outcome:?}");
    };
    let row = |name: &str, receipt: Option<&str>, at: Option<i64>| {
        (name.to_owned(), receipt.map(str::to_owned), at, 0)
    };
    accept(&alice, 100, "A1");
    assert_eq!(
        receipts(&storage),
        [row("alice", Some("A1"), Some(100)), row("bob", None, None)],
        "the success cleared alice's failure count"
    );
    accept(&bob, 101, "B1");
    accept(&alice, 102, "A2");
    accept(&bob, 103, "B2");
    assert_eq!(
        receipts(&storage),
        [
            row("alice", Some("A2"), Some(102)),
            row("bob", Some("B2"), Some(103))
        ]
    );
    storage
        .write(|c| bindings::delete_binding(c, bob_pk))
        .unwrap();
    let carol = storage
        .write(|c| {
            let user = users::insert_user(c, "", "carol", None, 0)?;
            bindings::insert_binding(c, alice.token_pk, user, MfaTokenUsrStat::Act, None, 0)
        })
        .unwrap();
    let rows = receipts(&storage);
    assert_eq!(rows[0], row("alice", Some("A2"), Some(102)));
    assert_eq!(rows[1], row("carol", None, None), "binding {carol}");
}

#[test]
fn sqlite_each_binding_of_a_shared_token_keeps_its_last_success() {
    let (_dir, storage) = temp_storage();
    shared_token(storage);
}

#[test]
fn postgres_each_binding_of_a_shared_token_keeps_its_last_success() {
    let (_db, storage) = postgres();
    shared_token(storage);
}

/// An awaited owned write keeps `write_owned`'s promise on either engine (the writer
/// thread's reply on SQLite, the blocking pool on PostgreSQL): its value once committed,
/// and a refusal rolls back its own work and comes back unchanged.
fn awaited_write_commits_or_rolls_back(storage: Storage) {
    let user_pk = seed(&storage).user_pk;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let set = |n: i32, refuse: bool| {
        storage.write_owned_async("user:1", move |c| {
            users::update_user_oob_failures(c, user_pk, n)?;
            if refuse {
                return Err(Error::Conflict("refused".into()));
            }
            Ok(n)
        })
    };
    assert_eq!(runtime.block_on(set(3, false)).unwrap(), 3);
    let refused = runtime.block_on(set(9, true));
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
    let user = storage
        .read(|c| users::find_user_by_pk(c, user_pk))
        .unwrap()
        .unwrap();
    assert_eq!(user.oob_failed_sessions, 3);
}

#[test]
fn sqlite_an_awaited_write_commits_or_rolls_back() {
    let (_dir, storage) = temp_storage();
    awaited_write_commits_or_rolls_back(storage);
}

#[test]
fn postgres_an_awaited_write_commits_or_rolls_back() {
    let (_db, storage) = postgres();
    awaited_write_commits_or_rolls_back(storage);
}
