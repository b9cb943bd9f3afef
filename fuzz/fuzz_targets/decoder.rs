//! Fuzz target: the receive buffer (lesson 09's decoder) on arbitrary bytes,
//! cut into arbitrary read sizes.
//!
//! ```text
//! cargo +nightly fuzz run decoder -- -max_total_time=60
//! ```
//!
//! Input layout: byte 0 picks the receiver's limit, byte 1 seeds the read
//! sizes, the rest is the stream. Checked on every step: no panic; every
//! frame handed out is as long as its header says and within the limit; an
//! error is sticky (asking again gives the same error) and names a size
//! that really is below 2 or over the limit; nothing is lost or invented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use servercore::packet::{FrameError, HEADER_LEN, MAX_PACKET_LEN, RecvBuffer, declared_size};

fuzz_target!(|data: &[u8]| {
    let [limit_byte, seed, stream @ ..] = data else {
        return;
    };
    let max_packet = (usize::from(*limit_byte) * 257).clamp(HEADER_LEN, MAX_PACKET_LEN);
    let mut buffer = RecvBuffer::new(max_packet);
    let mut cut = u32::from(*seed) | 1;
    let mut rest = stream;
    let mut consumed = 0usize;
    while !rest.is_empty() {
        // xorshift: the next read size, 1..=rest.len()
        cut ^= cut << 13;
        cut ^= cut >> 17;
        cut ^= cut << 5;
        let want = 1 + (cut as usize) % rest.len();
        let took = buffer.push(&rest[..want]);
        assert!(
            took > 0,
            "the buffer always has room for one largest packet"
        );
        rest = &rest[took..];
        loop {
            match buffer.next_frame() {
                Ok(Some(frame)) => {
                    assert_eq!(declared_size(frame), Some(frame.len()));
                    assert!((HEADER_LEN..=max_packet).contains(&frame.len()));
                    assert_eq!(frame, &stream[consumed..consumed + frame.len()]);
                    consumed += frame.len();
                }
                Ok(None) => break,
                Err(error) => {
                    match &error {
                        FrameError::TooSmall { size } => assert!(*size < HEADER_LEN),
                        FrameError::TooLarge { size, max } => {
                            assert!(size > max && *max == max_packet)
                        }
                        other => panic!("unexpected error {other:?}"),
                    }
                    assert_eq!(buffer.next_frame(), Err(error), "errors are sticky");
                    return;
                }
            }
        }
        assert_eq!(consumed + buffer.unread(), stream.len() - rest.len());
    }
});
