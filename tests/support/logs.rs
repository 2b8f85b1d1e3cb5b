//! Capturing this process's tracing events in a test. One global JSON subscriber (INFO and
//! above) is installed once; it writes to a buffer only on threads that asked to capture,
//! so parallel tests neither see each other's events nor race on subscriber setup.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once};

thread_local! {
    static BUFFER: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// Events logged on this thread while the capture lives.
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        BUFFER.with(|b| *b.borrow_mut() = None);
    }
}

/// Starts capturing this thread's events (use a current-thread runtime for async tests).
pub fn capture() -> Capture {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the tests");
    });
    let buffer = Arc::new(Mutex::new(Vec::new()));
    BUFFER.with(|b| *b.borrow_mut() = Some(buffer.clone()));
    Capture(buffer)
}

struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BUFFER.with(|b| {
            if let Some(buffer) = &*b.borrow() {
                buffer.lock().expect("log buffer").extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
