//! Lesson 09 — framing and bad input, on a real echo server.
//!
//!     cargo run --example lesson09_framing
//!
//! An echo server with a 1,024-byte packet limit; a good client exchanges
//! packets while hostile clients send a size of 0, a size of 1, a size over
//! the limit, a cut header and a cut body. Then the C# parse loop, retold,
//! gets a size of 0 and a size of 1. It prints:
//!
//!     server: each hostile session ends with its own reason
//!       size 0     -> bad packet: declared packet size 0 is below the 2-byte header
//!       size 1     -> bad packet: declared packet size 1 is below the 2-byte header
//!       size 2000  -> bad packet: declared packet size 2000 is over the limit of 1024 bytes
//!       cut header -> truncated packet: the peer closed the connection inside a size header (1 of its 2 bytes arrived)
//!       cut body   -> truncated packet: the peer closed the connection inside a packet of 10 bytes (5 of them arrived)
//!     good client: sent 2000 packets of 34 bytes, received 2000 echoes, every one verified (count, order, content)
//!
//!     the C# parse loop, retold (csharp_parse):
//!       size 0: after 100000 passes the cursor is still at byte 0; 100000 empty "packets" handed out, and it never returns
//!       size 1, then 1000 packets "hello": 3 "packets" handed out (1 byte at 0, 1792 bytes at 1, 1903 bytes at 1793), 0 of them real; it now waits for a "packet" of 28524 bytes

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use servercore::echo::{self, Client, ServerConfig};
use servercore::lessons::lesson09_framing::csharp_parse;
use servercore::{Lesson, Packet};

fn main() {
    let mut config = ServerConfig::new(Lesson::BatchedWriter);
    config.max_packet = 1024;
    let server =
        echo::serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &config).expect("server starts");
    let mut good = Client::connect(server.local_addr(), 32).expect("connect");
    good.exchange(1000).expect("echoes");
    let hostile: [(&str, &[u8]); 5] = [
        ("size 0", &[0, 0]),
        ("size 1", &[1, 0]),
        ("size 2000", &[0xd0, 0x07]),
        ("cut header", &[10]),
        ("cut body", &[10, 0, 1, 2, 3]),
    ];
    println!("server: each hostile session ends with its own reason");
    for (name, bytes) in hostile {
        let stream = TcpStream::connect(server.local_addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let peer = stream.local_addr().unwrap();
        (&stream).write_all(bytes).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let _ = (&stream).read_to_end(&mut Vec::new()); // the server hangs up
        let ended = server
            .wait_for_end(peer, Duration::from_secs(10))
            .expect("the session ends");
        println!("  {name:<10} -> {}", ended.reason);
    }
    good.exchange(1000).expect("echoes");
    println!("good client: {}", good.finish().expect("good client"));

    println!("\nthe C# parse loop, retold (csharp_parse):");
    const PASSES: usize = 100_000;
    let zero = csharp_parse(&[0, 0], PASSES);
    println!(
        "  size 0: after {PASSES} passes the cursor is still at byte {}; {} empty \"packets\" handed out, {}",
        zero.consumed,
        zero.frames.len(),
        if zero.spinning {
            "and it never returns"
        } else {
            "and it returned"
        }
    );
    // The lie, then good packets: [1, 0] [7, 0, h, e, l, l, o] [7, 0, ...] ...
    let hello = Packet::from_payload(b"hello").expect("a small payload");
    let mut stream = vec![1, 0];
    let mut real_starts = Vec::new();
    for _ in 0..1000 {
        real_starts.push(stream.len());
        stream.extend_from_slice(hello.as_bytes());
    }
    let one = csharp_parse(&stream, PASSES);
    let handed: Vec<String> = one
        .frames
        .iter()
        .map(|f| {
            let unit = if f.size == 1 { "byte" } else { "bytes" };
            format!("{} {unit} at {}", f.size, f.at)
        })
        .collect();
    let real = one
        .frames
        .iter()
        .filter(|f| real_starts.contains(&f.at) && f.size == hello.len())
        .count();
    let rest = &stream[one.consumed..];
    println!(
        "  size 1, then 1000 packets \"hello\": {} \"packets\" handed out ({}), {real} of them real; \
         it now waits for a \"packet\" of {} bytes",
        one.frames.len(),
        handed.join(", "),
        u16::from_le_bytes([rest[0], rest[1]])
    );
}
