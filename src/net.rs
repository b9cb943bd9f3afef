//! Sockets: listening, accepting and connecting, with the options set through
//! `socket2` before the socket is used.
//!
//! * [`SocketOptions`]: `TCP_NODELAY`, the kernel's send and receive buffer
//!   sizes (a small `SO_SNDBUF` forces partial writes in tests), the backlog.
//! * [`listen`] / [`connect`]: a configured listener or client socket.
//! * [`Acceptor`]: an accept thread that hands each new connection to a
//!   closure, and stops when dropped.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Options applied to every socket this crate creates or accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// `TCP_NODELAY`: send small packets at once instead of waiting to
    /// coalesce them (Nagle's algorithm). On by default: the send paths do
    /// their own batching, and Nagle would hide the differences between them.
    pub nodelay: bool,
    /// `SO_SNDBUF` in bytes, or `None` for the kernel's default. Linux
    /// doubles the value given and enforces a minimum of about 4.5 KiB.
    pub send_buffer: Option<usize>,
    /// `SO_RCVBUF` in bytes, or `None` for the kernel's default.
    pub recv_buffer: Option<usize>,
    /// The listener's backlog of connections not yet accepted.
    pub backlog: i32,
}

impl Default for SocketOptions {
    fn default() -> SocketOptions {
        SocketOptions {
            nodelay: true,
            send_buffer: None,
            recv_buffer: None,
            backlog: 1024,
        }
    }
}

impl SocketOptions {
    /// Applies the per-connection options to a socket (any socket: a
    /// listener passes the buffer sizes on to the connections it accepts).
    pub fn apply(&self, socket: SockRef<'_>) -> io::Result<()> {
        if let Some(size) = self.send_buffer {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        Ok(())
    }

    /// Applies the options to a connected stream, `TCP_NODELAY` included.
    pub fn apply_to_stream(&self, stream: &TcpStream) -> io::Result<()> {
        self.apply(SockRef::from(stream))?;
        stream.set_nodelay(self.nodelay)
    }
}

/// A listening socket on `addr` with `SO_REUSEADDR` and the options' backlog
/// and buffer sizes. Bind to port 0 to let the OS pick a free port.
pub fn listen(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    options.apply(SockRef::from(&socket))?;
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(socket.into())
}

/// A connected client socket with the options applied (buffer sizes are set
/// before connecting, so the TCP window is negotiated with them).
pub fn connect(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    options.apply(SockRef::from(&socket))?;
    socket.connect(&addr.into())?;
    let stream: TcpStream = socket.into();
    stream.set_nodelay(options.nodelay)?;
    Ok(stream)
}

/// An accept thread: hands every accepted connection, configured with the
/// options, to `on_accept`. Stops (and joins its thread) when dropped.
pub struct Acceptor {
    /// The address the listener is bound to (the real port when bound to 0).
    local_addr: SocketAddr,
    /// true once the acceptor is being dropped; the accept loop checks it
    /// after every accept.
    stopping: Arc<AtomicBool>,
    /// The accept thread, joined on drop.
    thread: Option<thread::JoinHandle<()>>,
}

impl Acceptor {
    /// Listens on `addr` and starts the accept thread.
    pub fn start<F>(
        addr: SocketAddr,
        options: SocketOptions,
        mut on_accept: F,
    ) -> io::Result<Acceptor>
    where
        F: FnMut(TcpStream, SocketAddr) + Send + 'static,
    {
        let listener = listen(addr, &options)?;
        let local_addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = thread::Builder::new()
            .name("acceptor".into())
            .stack_size(crate::sync::THREAD_STACK_SIZE)
            .spawn(move || {
                for incoming in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let stream = match incoming {
                        Ok(stream) => stream,
                        Err(e) => {
                            // Typically EMFILE or ECONNABORTED: this connection is
                            // lost, the listener goes on. Back off a little so a
                            // descriptor shortage does not spin the CPU.
                            log::warn!("accept failed: {e}");
                            thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    };
                    if let Err(e) = options.apply_to_stream(&stream) {
                        log::warn!("could not set socket options: {e}");
                        continue;
                    }
                    match stream.peer_addr() {
                        Ok(peer) => on_accept(stream, peer),
                        Err(e) => log::debug!("connection gone before it was handled: {e}"),
                    }
                }
            })?;
        Ok(Acceptor {
            local_addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.local_addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
