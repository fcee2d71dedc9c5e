//! Reading a request's body before anything answers it.
//!
//! Every request's body is read to its end before its answer, also when the
//! request is refused (the audit log cannot be written, the body is too
//! large): a server that answers and closes while the client is still
//! sending leaves unread bytes in its socket, the kernel then resets the
//! connection, and the client's kernel discards the answer with it. The
//! client sees "connection reset" instead of the error.

use std::future::poll_fn;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};

/// Large enough for any KMS request (the largest, a 32 KiB policy, is far below).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How much more of an oversized body is read and thrown away so that its
/// answer (413) reaches the client; beyond it the connection is closed
/// unread. The body timeout bounds the time it may take.
const DRAIN_BYTES: usize = 16 << 20;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The client stopped sending, or took longer than the body timeout.
    Unreadable,
}

/// The whole body, or why not. An oversized body is read on (and thrown
/// away) up to [`DRAIN_BYTES`] so that its refusal can be answered.
pub async fn read(mut body: Body) -> Result<Bytes, Refused> {
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        drain(&mut body).await;
        return Err(Refused::TooLarge);
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| Refused::Unreadable)?.into_data() else { continue };
        total += data.len();
        if total > MAX_BODY_BYTES {
            drain(&mut body).await;
            return Err(Refused::TooLarge);
        }
        chunks.push(data);
    }
    // A KMS request's body almost always comes in one piece: no copy then.
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}

/// Reads and discards the rest of a body, up to [`DRAIN_BYTES`].
async fn drain(body: &mut Body) {
    let mut drained = 0usize;
    while drained <= DRAIN_BYTES {
        match poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            Some(Ok(frame)) => drained += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_is_read_whole_up_to_the_limit_and_refused_beyond() {
        let exact = vec![b'x'; MAX_BODY_BYTES];
        assert_eq!(read(Body::from(exact.clone())).await.unwrap().len(), MAX_BODY_BYTES);
        assert_eq!(read(Body::from(vec![b'x'; MAX_BODY_BYTES + 1])).await, Err(Refused::TooLarge));
        assert_eq!(read(Body::empty()).await.unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_body_in_pieces_is_joined_and_counted_as_it_comes() {
        let joined = read(Pieces::body(3, 10)).await.unwrap();
        assert_eq!(&joined[..], [vec![b'a'; 10], vec![b'b'; 10], vec![b'c'; 10]].concat().as_slice());
        // No length known in advance (chunked): the limit is found while reading.
        assert_eq!(read(Pieces::body(5, MAX_BODY_BYTES / 4)).await, Err(Refused::TooLarge));
    }

    /// `count` chunks of `size` bytes, of no announced length.
    struct Pieces {
        left: usize,
        size: usize,
        next: u8,
    }

    impl Pieces {
        fn body(count: usize, size: usize) -> Body {
            Body::new(Pieces { left: count, size, next: b'a' })
        }
    }

    impl HttpBody for Pieces {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            if self.left == 0 {
                return std::task::Poll::Ready(None);
            }
            self.left -= 1;
            let chunk = Bytes::from(vec![self.next; self.size]);
            self.next += 1;
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
        }
    }
}
