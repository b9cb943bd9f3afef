//! `servercore trace` records what really happened: for every send path,
//! a scripted run's recorded events account for every packet (sent once,
//! written once), the writer writes only while the pending flag says the
//! socket is its own, and the picture has the writer's lane and the flag's
//! band; lesson 03's shows the seed's "가정" moment, packets queued during
//! a held write and found by the re-check. One test binary: recording
//! installs a process-wide logger.

use servercore::Lesson;
use servercore::trace::{self, Kind, Script};

#[test]
fn every_send_path_records_a_run_that_accounts_for_every_packet() {
    let script = Script::default();
    for lesson in Lesson::ALL {
        let events = trace::record(lesson, &script).unwrap();
        if let Err(problem) = trace::check(lesson, &events, &script) {
            let lines: Vec<String> = events
                .iter()
                .map(|e| format!("{:>10?} {:>9} {}", e.at, e.thread, e.text))
                .collect();
            panic!("{lesson}: {problem}\n{}", lines.join("\n"));
        }
        let picture = trace::svg(lesson, &events);
        assert!(picture.starts_with("<svg"), "{lesson}");
        assert!(
            picture.contains(">sender 0<"),
            "{lesson}: no lane for sender 0"
        );
        if lesson.has_writer_thread() {
            assert!(picture.contains(">writer<"), "{lesson}: no writer lane");
        }
    }
}

#[test]
fn lesson_03_shows_the_packets_queued_during_the_held_write() {
    let script = Script::default();
    let events = trace::record(Lesson::SendQueue, &script).unwrap();
    let burst = u64::from(script.senders - 1) * u64::from(script.burst);
    // Every burst packet found pending set and skipped the wake-up ...
    let skipped = events
        .iter()
        .filter(|e| e.kind == Kind::Enqueue { woke: false })
        .count() as u64;
    assert_eq!(skipped, burst, "sends that skipped the wake-up");
    // ... and the writer's re-check after the held write found all of them.
    assert!(
        events.iter().any(|e| e.kind
            == Kind::Recheck {
                during: burst as usize
            }),
        "no re-check found the {burst} packets queued during the write"
    );
    // One write call per packet (lesson 03): as many writer writes as packets queued.
    let writes = events
        .iter()
        .filter(|e| e.thread == "writer" && e.kind == Kind::WriteBegins)
        .count();
    let queued = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Enqueue { .. }))
        .count();
    assert_eq!(writes, queued);
    assert!(trace::svg(Lesson::SendQueue, &events).contains("가정"));
}
