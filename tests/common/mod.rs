//! Helpers shared by the socket tests.
//!
//! * loopback pairs whose blocking calls all have a timeout, so a hang
//!   fails the test instead of stalling CI;
//! * a receiver thread that checks every packet ([`Verifier`]);
//! * sending from many threads at once;
//! * [`Recorder`], a session [`Handler`] that records its callbacks in order;
//! * two sinks in front of the real socket that make *short writes* happen
//!   on purpose, so a test can rely on them instead of hoping the kernel
//!   produces one: [`SplittingSink`] (lessons 01/02) and [`CappedSink`]
//!   (lessons 04/05).
//!
//! Every byte still crosses a real TCP connection on 127.0.0.1.
//!
//! By job: [`pairs`] (connections and send paths on them), [`traffic`]
//! (sending and checking), [`recorder`] (a recording handler), [`sinks`]
//! (short writes on purpose), [`scenarios`] (the multi-step cases several
//! lessons share). Everything is re-exported here: `use common::*`.

#![allow(dead_code)] // each test file uses a different part of these modules
#![allow(unused_imports)] // and of these re-exports

pub mod pairs;
pub mod recorder;
pub mod scenarios;
pub mod sinks;
pub mod traffic;

pub use pairs::*;
pub use recorder::*;
pub use scenarios::*;
pub use servercore::net::SocketOptions;
pub use sinks::*;
pub use traffic::*;
