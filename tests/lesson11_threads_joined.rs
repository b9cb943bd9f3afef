//! Lesson 11: every session's two threads are joined. The only test in its
//! file (so its own process): it counts the process's threads
//! (`/proc/self/task`) while many sessions come and go.

mod echo_support;

use echo_support::*;
use servercore::Lesson;
use servercore::echo::Client;
use servercore::lessons::lesson11_shutdown::thread_count;

#[test]
fn threads_come_and_go_with_sessions() {
    let baseline = thread_count().unwrap();
    for lesson in [
        Lesson::SendQueue,
        Lesson::BatchedWriter,
        Lesson::ChannelWriter,
        Lesson::SendBuffers,
        Lesson::DirectPath,
    ] {
        let mut server = server(&config(lesson));
        for _round in 0..5 {
            let mut clients: Vec<Client> = (0..10)
                .map(|_| Client::connect(server.local_addr(), 16).unwrap())
                .collect();
            for client in &mut clients {
                client.exchange(20).unwrap(); // the session is up: its reader echoed
            }
            // The acceptor, and a reader and a writer per session. (Readers of
            // the previous round's sessions are joined by now: the acceptor
            // joins them before it starts the next session.)
            let (started, ended) = server.counts();
            assert_eq!(started - ended, 10);
            let expected = baseline + 1 + 2 * 10;
            eventually("two threads per live session", || {
                (thread_count().unwrap() == expected).then_some(())
            });
            for client in clients {
                assert_eq!(client.finish().unwrap().echoed, 20);
            }
            let (started, _) = server.counts();
            assert!(
                server.wait_for_ended_count(started, TIMEOUT),
                "every session of the round ended"
            );
        }
        server.shutdown();
        eventually("back to the baseline", || {
            (thread_count().unwrap() == baseline).then_some(())
        });
    }
}
