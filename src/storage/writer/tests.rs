use super::super::test_support::temp_storage;
use super::super::Error;
use diesel::connection::SimpleConnection as _;
use diesel::sql_types::BigInt;
use diesel::{sql_query, QueryableByName, RunQueryDsl as _};
use std::sync::Arc;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(storage: &super::super::Storage) -> i64 {
    storage
        .read(|c| {
            Ok(sql_query("SELECT count(*) AS n FROM bench_rows")
                .get_result::<Count>(c)?
                .n)
        })
        .unwrap()
}

/// Runs `sql` as one write.
fn execute(storage: &super::super::Storage, sql: &str) -> Result<(), Error> {
    storage.write(|c| {
        c.batch_execute(sql)?;
        Ok::<_, Error>(())
    })
}

/// Eight threads insert 50 rows each, then each row again (refused by the unique
/// index, and alone); with `owned`, every other insert is an owned job (the writer
/// thread) and the rest take the mutex, so both kinds share the batches.
fn race_inserts_and_duplicates(owned: bool) {
    let (_dir, storage) = temp_storage();
    execute(
        &storage,
        "CREATE TABLE bench_rows (v INTEGER NOT NULL UNIQUE)",
    )
    .unwrap();
    let storage = Arc::new(storage);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let storage = Arc::clone(&storage);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let v = t * 1000 + i;
                    let insert = move |c: &mut super::super::Conn| {
                        c.batch_execute(&format!("INSERT INTO bench_rows VALUES ({v})"))?;
                        Ok::<_, Error>(())
                    };
                    let by_thread = owned && (t + i) % 2 == 0;
                    let run = |first: bool| {
                        if by_thread == first {
                            storage.write_owned("k", insert)
                        } else {
                            storage.write(insert)
                        }
                    };
                    run(true).unwrap();
                    let dup = run(false);
                    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(count(&storage), 400);
}

#[test]
fn concurrent_writes_all_commit_and_a_refused_one_rolls_back_alone() {
    race_inserts_and_duplicates(false);
}

/// Owned jobs (the writer thread) and borrowed ones (the mutex) share the connection
/// and its batches: all commit, a refused one of either kind rolls back alone.
#[test]
fn owned_and_borrowed_jobs_interleave_and_refusals_roll_back_alone() {
    race_inserts_and_duplicates(true);
}

#[test]
fn a_panicking_write_loses_only_its_batch_and_the_writer_goes_on() {
    let (_dir, storage) = temp_storage();
    execute(&storage, "CREATE TABLE bench_rows (v INTEGER NOT NULL)").unwrap();
    let storage = Arc::new(storage);
    let panicking = Arc::clone(&storage);
    let joined = std::thread::spawn(move || {
        panicking.write(|c| {
            c.batch_execute("INSERT INTO bench_rows VALUES (1)")?;
            panic!("a bug in a job");
            #[allow(unreachable_code)]
            Ok::<_, Error>(())
        })
    })
    .join();
    assert!(joined.is_err());
    execute(&storage, "INSERT INTO bench_rows VALUES (2)").unwrap();
    assert_eq!(count(&storage), 1);
}

/// A panic in an owned job answers an error to its caller, loses only its batch, and
/// the writer thread goes on with a new connection.
#[test]
fn a_panicking_owned_job_answers_an_error_and_the_writer_thread_goes_on() {
    let (_dir, storage) = temp_storage();
    execute(&storage, "CREATE TABLE bench_rows (v INTEGER NOT NULL)").unwrap();
    let outcome = storage.write_owned("k", |c| {
        c.batch_execute("INSERT INTO bench_rows VALUES (1)")?;
        panic!("a bug in a job");
        #[allow(unreachable_code)]
        Ok::<_, Error>(())
    });
    assert!(matches!(outcome, Err(Error::Db(_))), "{outcome:?}");
    storage
        .write_owned("k", |c| {
            c.batch_execute("INSERT INTO bench_rows VALUES (2)")?;
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(count(&storage), 1);
}

/// Dropping the storage ends the writer thread (tests open hundreds of databases).
#[test]
fn dropping_the_storage_ends_its_writer_thread() {
    let (_dir, storage) = temp_storage();
    execute(&storage, "CREATE TABLE bench_rows (v INTEGER NOT NULL)").unwrap();
    storage
        .write_owned("k", |c| {
            c.batch_execute("INSERT INTO bench_rows VALUES (1)")?;
            Ok::<_, Error>(())
        })
        .unwrap();
    drop(storage);
}

/// The number of batches `storage`'s writer has opened (each one is committed or
/// abandoned before the next opens).
fn batches_done(storage: &super::super::Storage) -> u64 {
    let super::super::Engine::Sqlite(writer) = &*storage.engine else {
        unreachable!("a test database is SQLite");
    };
    writer.shared.state.lock().unwrap().batch
}

/// A blocking caller (a thread waiting on its reply) and an async one (a task awaiting
/// it) queue jobs while the writer thread runs a third: all three share one batch, one
/// commit, and each caller gets its own answer only once that batch is committed.
#[test]
fn a_blocking_and_an_async_caller_share_one_batch() {
    let (_dir, storage) = temp_storage();
    execute(&storage, "CREATE TABLE bench_rows (v INTEGER NOT NULL)").unwrap();
    let storage = Arc::new(storage);
    let super::super::Engine::Sqlite(writer) = &*storage.engine else {
        unreachable!("a test database is SQLite");
    };
    let shared = Arc::clone(&writer.shared);
    let before = batches_done(&storage);
    // The first job holds the batch open until the two others are queued behind it.
    let running = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = {
        let (storage, running) = (Arc::clone(&storage), Arc::clone(&running));
        std::thread::spawn(move || {
            storage.write_owned("k", move |c| {
                running.store(true, std::sync::atomic::Ordering::SeqCst);
                while shared.inbox().jobs.len() < 2 {
                    std::thread::yield_now();
                }
                c.batch_execute("INSERT INTO bench_rows VALUES (1)")?;
                Ok::<_, Error>(())
            })
        })
    };
    let insert = |v: i32| {
        move |c: &mut super::super::Conn| {
            c.batch_execute(&format!("INSERT INTO bench_rows VALUES ({v})"))?;
            Ok::<_, Error>(v)
        }
    };
    while !running.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let awaited = storage.write_owned_async("k", insert(3));
    let blocking = {
        let storage = Arc::clone(&storage);
        std::thread::spawn(move || storage.write_owned("k", insert(2)))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(awaited).unwrap(), 3);
    assert_eq!(blocking.join().unwrap().unwrap(), 2);
    gate.join().unwrap().unwrap();
    assert_eq!(batches_done(&storage), before + 1, "one batch, one commit");
    assert_eq!(count(&storage), 3);
}
