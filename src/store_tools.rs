//! `myelin store bench` and `myelin store crash-test`: the measurements behind the choice of the
//! default storage engine (README, "Storage"). Benchmarks, not tests: they report, never assert.

use std::{
    collections::HashSet,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Subcommand;
use myelin_core::storage::{BackendKind, Store, WriteBatch};
use rand::Rng as _;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Acknowledged (durable) writes per second with concurrent writers, and bytes per event.
    Bench {
        /// `redb`, `sled`, or both when absent.
        #[arg(long)]
        backend: Option<BackendKind>,
        /// Comma-separated numbers of concurrent writers.
        #[arg(long, default_value = "1,16,256")]
        writers: String,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Where to put the scratch databases (a temporary directory when absent).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Kill a writing process with SIGKILL again and again; after each kill, reopen the store
    /// and look for every write that was acknowledged.
    CrashTest {
        #[arg(long)]
        backend: Option<BackendKind>,
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        #[arg(long, default_value_t = 8)]
        writers: u32,
    },
    /// The victim of `crash-test`: writes until killed, printing `ack KEY` after each durable commit.
    #[command(hide = true)]
    WriteForever {
        #[arg(long)]
        backend: BackendKind,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        writers: u32,
        #[arg(long)]
        round: u32,
    },
}

fn backends(choice: Option<BackendKind>) -> Vec<BackendKind> {
    choice.map_or_else(
        || vec![BackendKind::Redb, BackendKind::Sled],
        |kind| vec![kind],
    )
}

pub fn run(command: &StoreCommand) -> Result<(), crate::failure::Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        StoreCommand::Bench {
            backend,
            writers,
            seconds,
            dir,
        } => {
            let counts: Vec<usize> = writers
                .split(',')
                .map(|count| count.trim().parse())
                .collect::<Result<_, _>>()?;
            let scratch = tempfile::Builder::new()
                .prefix("myelin-bench")
                .tempdir_in(dir.clone().unwrap_or_else(std::env::temp_dir))?;
            println!(
                "| backend | writers | acknowledged writes/s | flushes | bytes per event | random reads/s (2 threads) |"
            );
            println!("|---|---:|---:|---:|---:|---:|");
            for kind in backends(*backend) {
                for &count in &counts {
                    let directory = scratch.path().join(format!("{kind}-{count}"));
                    let result = runtime.block_on(bench_one(
                        kind,
                        &directory,
                        count,
                        Duration::from_secs_f64(*seconds),
                    ))?;
                    println!(
                        "| {kind} | {count} | {:.0} | {} | {:.0} | {:.0} |",
                        result.writes_per_second,
                        result.flushes,
                        result.bytes_per_event,
                        result.reads_per_second
                    );
                }
            }
            Ok(())
        }
        StoreCommand::CrashTest {
            backend,
            rounds,
            writers,
        } => {
            for kind in backends(*backend) {
                crash_test(kind, *rounds, *writers)?;
            }
            Ok(())
        }
        StoreCommand::WriteForever {
            backend,
            dir,
            writers,
            round,
        } => runtime.block_on(write_forever(*backend, dir, *writers, *round)),
    }
}

/// A value shaped like a stored message event (~600 bytes of JSON).
fn event_value(sequence: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "m.room.message",
        "room_id": "!benchmarkroom:localhost",
        "sender": "@benchmark-user:localhost",
        "origin_server_ts": 1_700_000_000_000u64 + sequence,
        "content": { "msgtype": "m.text", "body": format!("message number {sequence} with a little text in it") },
        "prev_events": ["$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"],
        "auth_events": ["$abcdefghijklmnopqrstuvwxyz0123456789ABCDEF1", "$abcdefghijklmnopqrstuvwxyz0123456789ABCDEF2"],
        "depth": sequence,
        "hashes": { "sha256": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" },
        "signatures": { "localhost": { "ed25519:a_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGabcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" } },
        "unsigned": { "stream_ordering": sequence }
    }))
    .expect("a literal JSON value serialises")
}

/// One event as the rooms layer will store it: the event, plus an ordering index entry.
fn event_batch(sequence: u64, writer: usize) -> WriteBatch {
    let mut batch = WriteBatch::new();
    let key = [
        &(writer as u64).to_be_bytes()[..],
        &sequence.to_be_bytes()[..],
    ]
    .concat();
    batch.put("eventid_pdu", key.clone(), event_value(sequence));
    batch.put(
        "roomposition_eventid",
        key.iter().rev().copied().collect::<Vec<u8>>(),
        key,
    );
    batch
}

struct BenchResult {
    writes_per_second: f64,
    flushes: u64,
    bytes_per_event: f64,
    reads_per_second: f64,
}

async fn bench_one(
    kind: BackendKind,
    directory: &Path,
    writers: usize,
    duration: Duration,
) -> Result<BenchResult, crate::failure::Failure> {
    let store = Store::open(kind, directory)?;
    let done = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, done, acknowledged) =
                (store.clone(), Arc::clone(&done), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                let mut sequence = 0u64;
                while !done.load(Ordering::Relaxed) {
                    store.commit(event_batch(sequence, writer)).await?;
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    sequence += 1;
                }
                Ok::<_, myelin_core::Error>(sequence)
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    done.store(true, Ordering::Relaxed);
    let mut written_by_first = 0;
    for (index, task) in tasks.into_iter().enumerate() {
        let written = task.await??;
        if index == 0 {
            written_by_first = written;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = acknowledged.load(Ordering::Relaxed);
    let flushes = store.counters().flushes.load(Ordering::Relaxed);
    store.flush()?;
    let size = store.size_on_disk()?;
    let reads_per_second = random_reads(&store, written_by_first, duration)?;
    Ok(BenchResult {
        writes_per_second: total as f64 / elapsed,
        flushes,
        bytes_per_event: size as f64 / total.max(1) as f64,
        reads_per_second,
    })
}

/// Point lookups of random events written by the first writer, from two threads.
fn random_reads(
    store: &Store,
    written: u64,
    duration: Duration,
) -> Result<f64, crate::failure::Failure> {
    if written == 0 {
        return Ok(0.0);
    }
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut random = rand::thread_rng();
                let mut reads = 0u64;
                while started.elapsed() < duration {
                    let key = [
                        &0u64.to_be_bytes()[..],
                        &random.gen_range(0..written).to_be_bytes()[..],
                    ]
                    .concat();
                    if store.get("eventid_pdu", &key)?.is_none() {
                        return Err(myelin_core::Error::Storage(
                            "an acknowledged event is missing".into(),
                        ));
                    }
                    reads += 1;
                }
                Ok(reads)
            })
        })
        .collect();
    let mut reads = 0;
    for thread in threads {
        reads += thread.join().map_err(|_| "reader thread panicked")??;
    }
    Ok(reads as f64 / started.elapsed().as_secs_f64())
}

fn crash_test(kind: BackendKind, rounds: u32, writers: u32) -> Result<(), crate::failure::Failure> {
    let scratch = tempfile::Builder::new().prefix("myelin-crash").tempdir()?;
    let directory = scratch.path().join("store");
    let executable = std::env::current_exe()?;
    let mut acknowledged: HashSet<String> = HashSet::new();
    let (mut lost, mut unopenable) = (0usize, 0u32);
    for round in 0..rounds {
        let mut child = Command::new(&executable)
            .args([
                "store",
                "write-forever",
                "--backend",
                &kind.to_string(),
                "--writers",
                &writers.to_string(),
                "--round",
                &round.to_string(),
                "--dir",
            ])
            .arg(&directory)
            .env("MYELIN_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| line.strip_prefix("ack ").map(str::to_owned))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(
            rand::thread_rng().gen_range(150..700),
        ));
        child.kill()?; // SIGKILL on Unix
        child.wait()?;
        acknowledged.extend(reader.join().map_err(|_| "reader thread panicked")?);
        match Store::open(kind, &directory) {
            Ok(store) => {
                lost += acknowledged
                    .iter()
                    .filter(|key| !matches!(store.get("crash_test", key.as_bytes()), Ok(Some(_))))
                    .count();
            }
            Err(error) => {
                eprintln!("round {round}: {kind} store would not open after SIGKILL: {error}");
                unopenable += 1;
            }
        }
    }
    println!(
        "{kind}: {rounds} SIGKILL rounds, {} acknowledged writes, {lost} lost, {unopenable} times unopenable",
        acknowledged.len()
    );
    Ok(())
}

async fn write_forever(
    kind: BackendKind,
    directory: &Path,
    writers: u32,
    round: u32,
) -> Result<(), crate::failure::Failure> {
    let store = Store::open(kind, directory)?;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for sequence in 0u64.. {
                    let key = format!("{round}-{writer}-{sequence}");
                    let mut batch = WriteBatch::new();
                    batch.put(
                        "crash_test",
                        key.clone().into_bytes(),
                        event_value(sequence),
                    );
                    store.commit(batch).await?;
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "ack {key}")
                        .and_then(|()| stdout.flush())
                        .map_err(|error| myelin_core::Error::Internal(error.to_string()))?;
                }
                Ok::<_, myelin_core::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}
