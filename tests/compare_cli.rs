//! The `servercore` command, run as a user runs it (the built binary,
//! through `assert_cmd`, each run under a timeout so a hang fails the test):
//!
//! * `compare --format json`: every line parses (`serde_json`) into the
//!   documented row, one per lesson after the ceiling, lessons 02 on
//!   verified, write calls per message exactly 1 for lessons 01–03, at
//!   most 1 from 04 on;
//! * `compare --format csv`: one rectangular table under one header, also
//!   for a matrix of workloads (parsed with the `csv` crate);
//! * the documented key lists in `lessons/measuring.md` are the keys the
//!   row types produce;
//! * usage errors exit 2 and name the flag and the value; `--lessons`
//!   lists the lessons there are; a bad `--chart` path fails at once;
//! * `client` and `bots` without a server exit 1, naming the address on
//!   stderr, with a hint; `localhost` works as a host name;
//! * `bots --format json` lines draw the room's chart (`servercore chart`);
//! * every `$ cargo run --release -- …` command quoted in the course parses.

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use servercore::Lesson;
use servercore::compare::{self, Row};
use servercore::server::{RoomServer, ServerConfig};

/// The longest a run of the command may take in a test (debug build).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the built `servercore` binary with `args`, no stdin; fails the
/// test if it does not finish within [`TIMEOUT`] (the child is killed).
fn servercore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_servercore"))
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .unwrap_or_else(|e| panic!("servercore {args:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a usage error: exit 2, nothing on stdout, and every one of
/// `needles` on stderr.
fn assert_usage_error(args: &[&str], needles: &[&str]) {
    let output = servercore(args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{args:?}: nothing runs, nothing is printed"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: no `{needle}` in:\n{stderr}"
        );
    }
}

#[test]
fn compare_json_reports_every_lesson() {
    const MESSAGES: u64 = 4000;
    let output = servercore(&[
        "compare",
        "--format",
        "json",
        "--messages",
        "4000",
        "--senders",
        "2",
    ]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );
    // Every line is one row: serde_json parses it into the documented type,
    // which refuses unknown keys and requires every documented one.
    let mut rows: Vec<Row> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    // The ceiling comes first: a row of its own, lesson 0, not a lesson.
    let ceiling = rows.remove(0);
    assert_eq!(
        (ceiling.lesson, ceiling.name.as_str()),
        (0, "ceiling"),
        "{stdout}"
    );
    assert!(ceiling.verified, "{stdout}");
    assert_eq!(
        rows.len(),
        Lesson::ALL.len(),
        "one line per lesson:\n{stdout}"
    );
    for (row, lesson) in rows.iter().zip(Lesson::ALL) {
        assert_eq!(
            row.lesson,
            lesson.number(),
            "lessons in course order: {row:?}"
        );
        assert_eq!(row.name, lesson.name());
        assert_eq!((row.senders, row.messages), (2, MESSAGES), "{row:?}");
        assert_eq!(
            row.queue_limit,
            Some(servercore::server::DEFAULT_QUEUE_LIMIT)
        );
        assert!(row.seconds > 0.0 && row.msgs_per_sec > 0.0, "{row:?}");
        match lesson.number() {
            // Lesson 01 may be corrupted (its receiver then stops early and
            // its senders at the first failed write): checked only intact.
            1 if row.verified => assert_eq!(row.write_calls, MESSAGES, "{row:?}"),
            1 => assert!(row.problem.is_some(), "{row:?}"),
            2 | 3 => {
                assert!(row.verified, "{row:?}");
                assert_eq!(row.write_calls, MESSAGES, "one write per message: {row:?}");
            }
            _ => {
                assert!(row.verified, "{row:?}");
                assert!(
                    (1..=MESSAGES).contains(&row.write_calls),
                    "batched: at most one write per message: {row:?}"
                );
            }
        }
    }
}

#[test]
fn compare_csv_is_one_rectangular_table() {
    let output = servercore(&[
        "compare",
        "--format",
        "csv",
        "--lessons",
        "2,4",
        "--senders",
        "1,2",
        "--messages",
        "2000",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, compare::keys());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Two workloads × (the ceiling and two lessons), under one header.
    assert_eq!(records.len(), 6, "{}", text(&output.stdout));
    assert!(records.iter().all(|r| r.len() == header.len()));
    let rows: Vec<Row> = records
        .iter()
        .map(|r| r.deserialize(None).unwrap())
        .collect();
    let senders: Vec<usize> = rows.iter().map(|r| r.senders).collect();
    assert_eq!(senders, [1, 1, 1, 2, 2, 2]);
}

/// The key lists between `<!-- json-keys:begin -->` and `<!-- json-keys:end -->`
/// of `lessons/measuring.md`: the first cell of each table row, per table.
fn documented_keys() -> Vec<Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/measuring.md");
    let text = std::fs::read_to_string(path).unwrap();
    let (_, rest) = text
        .split_once("<!-- json-keys:begin -->")
        .expect("lessons/measuring.md has the json-keys markers");
    let (section, _) = rest.split_once("<!-- json-keys:end -->").unwrap();
    let mut tables: Vec<Vec<String>> = Vec::new();
    let mut in_table = false;
    for line in section.lines() {
        let Some(cell) = line.strip_prefix("| `") else {
            in_table = false;
            continue;
        };
        if !in_table {
            tables.push(Vec::new());
            in_table = true;
        }
        let key = cell.split('`').next().unwrap();
        tables.last_mut().unwrap().push(key.to_owned());
    }
    tables
}

#[test]
fn the_documented_keys_are_the_keys_printed() {
    let tables = documented_keys();
    assert_eq!(tables.len(), 2, "a table for compare and one for bots");
    assert_eq!(
        tables[0],
        compare::keys(),
        "compare's keys in lessons/measuring.md"
    );
    assert_eq!(
        tables[1],
        servercore::bots::keys(),
        "bots' keys in lessons/measuring.md"
    );
}

#[test]
fn usage_errors_name_the_flag_and_the_value() {
    assert_usage_error(
        &["compare", "--payload", "0"],
        &["--payload", "'0'", "6..=65533"],
    );
    assert_usage_error(
        &["compare", "--seconds", "-1"],
        &["--seconds", "'-1'", "negative"],
    );
    assert_usage_error(&["compare", "--senders", "many"], &["--senders", "'many'"]);
    assert_usage_error(
        &["compare", "--rate", "100", "--payload", "8"],
        &["--payload", "--rate"],
    );
    let lessons: Vec<String> = Lesson::ALL.iter().map(Lesson::to_string).collect();
    let mut needles = vec!["--lessons", "'99'"];
    needles.extend(lessons.iter().map(String::as_str));
    assert_usage_error(&["compare", "--lessons", "99"], &needles);
    // Compare's flags without the subcommand: the same checks.
    assert_usage_error(&["--payload", "0"], &["--payload"]);
    assert_usage_error(
        &["client", "--addr", "127.0.0.1:1", "--payload", "0"],
        &["--payload"],
    );
    assert_usage_error(
        &["bots", "--addr", "127.0.0.1:1", "--seconds", "-2"],
        &["--seconds"],
    );
}

#[test]
fn compare_runs_without_the_subcommand() {
    let output = servercore(&[
        "--lessons",
        "2",
        "--messages",
        "500",
        "--no-ceiling",
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let row: Row = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!((row.lesson, row.messages), (2, 500));
}

#[test]
fn the_queue_limit_is_named_in_the_table() {
    let args = [
        "compare",
        "--lessons",
        "4",
        "--messages",
        "2000",
        "--payload",
        "512",
        "--senders",
        "1",
        "--no-ceiling",
    ];
    for (limit, heading) in [
        (None, "queue limit 1048576 bytes (block)"),
        (Some("65536"), "queue limit 65536 bytes (block)"),
        (Some("unlimited"), "unbounded queues"),
        (Some("0"), "unbounded queues"),
    ] {
        let mut args = args.to_vec();
        if let Some(limit) = limit {
            args.extend(["--queue-limit", limit]);
        }
        let output = servercore(&args);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{limit:?}: {}",
            text(&output.stderr)
        );
        assert!(
            stdout.contains(heading),
            "{limit:?}: the heading says so:\n{stdout}"
        );
        assert!(stdout.contains("04 batched_writer"), "{stdout}");
    }
}

#[test]
fn a_bad_chart_path_fails_at_once_naming_it() {
    let started = Instant::now();
    assert_usage_error(
        &["compare", "--chart", "/nonexistent/dir/x.svg"],
        &["--chart", "/nonexistent/dir/x.svg", "No such file"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused before any lesson ran, took {:?}",
        started.elapsed()
    );
}

#[test]
fn client_and_bots_without_a_server_name_the_address() {
    for (args, hint) in [
        (&["client", "--addr", "127.0.0.1:1"][..], "servercore serve"),
        (
            &[
                "bots",
                "--addr",
                "127.0.0.1:1",
                "--players",
                "1",
                "--seconds",
                "0.1",
            ],
            "servercore room",
        ),
    ] {
        let output = servercore(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: errors go to stderr");
        assert!(
            stderr.contains("127.0.0.1:1") && stderr.contains(hint),
            "{args:?}: {stderr}"
        );
    }
}

/// A room on an OS-chosen loopback port, in this process.
fn room(lesson: Lesson) -> (RoomServer, SocketAddr) {
    let room =
        RoomServer::start("127.0.0.1:0".parse().unwrap(), &ServerConfig::room(lesson)).unwrap();
    let addr = room.local_addr();
    (room, addr)
}

#[test]
fn a_host_name_reaches_the_server_and_bots_rows_draw_the_room_chart() {
    let mut echo = servercore::echo::serve(
        "127.0.0.1:0".parse().unwrap(),
        &ServerConfig::new(Lesson::BatchedWriter),
    )
    .unwrap();
    let at = format!("localhost:{}", echo.local_addr().port());
    let output = servercore(&["client", "--addr", &at, "--packets", "200"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("received 200 echoes"),
        "{}",
        text(&output.stdout)
    );
    echo.shutdown();

    let dir = std::env::temp_dir().join(format!("servercore-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    for lesson in [Lesson::Locked, Lesson::BatchedWriter] {
        let (mut room, addr) = room(lesson);
        let at = format!("localhost:{}", addr.port());
        let output = servercore(&[
            "bots",
            "--addr",
            &at,
            "--players",
            "3",
            "--rate",
            "20",
            "--seconds",
            "0.2",
            "--format",
            "json",
        ]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        lines.push_str(&text(&output.stdout));
        lines.push_str("costs: a script's note, skipped\n");
        room.shutdown();
    }
    let runs = dir.join("runs.jsonl");
    std::fs::write(&runs, &lines).unwrap();
    let svg = dir.join("room.svg");
    let output = servercore(&[
        "chart",
        "--room",
        runs.to_str().unwrap(),
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(drawn.contains("3 players × 20 updates/s"), "{drawn}");
    assert!(drawn.contains("02 locked") && drawn.contains("04 batched_writer"));
}

/// Every `$ cargo run --release -- ...` command quoted in the chapters and
/// the README (what `scripts/remeasure.sh` re-runs) still parses: the
/// binary accepts its arguments (checked with `--help` appended, so
/// nothing is measured). A renamed or removed flag fails here, not in a
/// reader's terminal.
#[test]
fn every_command_quoted_in_the_course_still_parses() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = vec![format!("{root}/README.md")];
    for entry in std::fs::read_dir(format!("{root}/lessons")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path.display().to_string());
        }
    }
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(rest) = line.strip_prefix("$ cargo run --release") else {
                continue;
            };
            let Some(args) = rest.strip_prefix(" -- ").or(rest.is_empty().then_some("")) else {
                continue; // `--example ...`: not the servercore binary
            };
            let mut args: Vec<&str> = args.split_whitespace().collect();
            args.push("--help");
            let output = servercore(&args);
            assert!(
                output.status.success(),
                "{file}:{}: `{line}` no longer parses:\n{}",
                n + 1,
                String::from_utf8_lossy(&output.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "found only {checked} quoted commands");
}
