//! paxos-chaos patch: Toxiproxy's reset_peer toxic (its toxics/reset_peer.go), absent from noxious.
use bytes::Bytes;
use futures::{Sink, Stream, StreamExt};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::pin;
use tokio::time::{sleep, Duration};

/// Takes the first chunk (dropped) or the end of the input, waits `timeout` ms without reading
/// more, then raises `reset` and returns. Returning ends the link's chain; the link sees `reset`
/// and closes both sockets of the connection with SO_LINGER 0 (a TCP RST, see `Link`).
pub(crate) async fn run_reset_peer(
    input: impl Stream<Item = Bytes>,
    _output: impl Sink<Bytes>, // held, not used, until the reset: nothing passes this toxic
    timeout: u64,
    reset: &AtomicBool,
) -> io::Result<()> {
    pin!(input);
    let _ = input.next().await;
    sleep(Duration::from_millis(timeout)).await;
    reset.store(true, Ordering::SeqCst);
    Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("reset_peer after {}ms", timeout),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::test_utils::*;
    use futures::SinkExt;
    use tokio::time::{pause, resume};
    use tokio_test::assert_ok;

    #[tokio::test]
    async fn drops_the_first_chunk_and_raises_reset_after_the_timeout() {
        pause();
        let reset = std::sync::Arc::new(AtomicBool::new(false));
        let (in_stream, mut in_sink) = create_stream_sink();
        let (mut out_stream, out_sink) = create_stream_sink();
        let flag = reset.clone();
        let handle =
            tokio::spawn(async move { run_reset_peer(in_stream, out_sink, 5000, &flag).await });
        assert_ok!(in_sink.send(gen_random_bytes(32)).await);
        let res = handle.await.unwrap();
        assert_eq!(io::ErrorKind::ConnectionReset, res.unwrap_err().kind());
        assert!(reset.load(Ordering::SeqCst));
        assert_eq!(None, out_stream.next().await);
        resume();
    }
}
