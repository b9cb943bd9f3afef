// cargo run --example lesson09_framing
//
// An echo server with a 1,024-byte packet limit; a good client exchanges
// packets while hostile clients send a size of 0, a size of 1, a size over
// the limit, a cut header and a cut body. Prints why each hostile session
// ended, that the good client got every echo, and what the C# parse loop
// does with a size of 0:
//
//   size 0        -> bad packet: declared packet size 0 is below the 2-byte header
//   size 1        -> bad packet: declared packet size 1 is below the 2-byte header
//   size 2000     -> bad packet: declared packet size 2000 is over the limit of 1024 bytes
//   cut header    -> truncated packet: ... inside a size header (1 of its 2 bytes arrived)
//   cut body      -> truncated packet: ... inside a packet of 10 bytes (5 of them arrived)
//   good client: sent 2000 packets of 34 bytes, received 2000 echoes, every one verified (count, order, content)
//   C# parse loop on [0, 0]: Spinning { at: 0, packets: 1000000 }

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use servercore::Lesson;
use servercore::echo::{self, Client, ServerConfig};
use servercore::lessons::lesson09_framing::csharp_parse;

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
        println!("{name:<13} -> {}", ended.reason);
    }
    good.exchange(1000).expect("echoes");
    println!("good client: {}", good.finish().expect("good client"));
    println!(
        "C# parse loop on [0, 0]: {:?}",
        csharp_parse(&[0, 0], 1_000_000)
    );
}
