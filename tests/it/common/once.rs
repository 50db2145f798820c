//! A fault for every step: the seams wrapped (`imaged::testing`) so that one
//! named step (`"meta.insert_image"`, `"queue.send"`, `"store.delete"`, ...)
//! fails once, the first time it is called, with the transient error an
//! outage gives; and every message body the queue took is recorded.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use imaged::{
    startup::Backends,
    testing::{self, Call, Fault, Hook},
};

/// The step that is to fail, until it has.
#[derive(Default)]
pub struct Armed {
    step: Mutex<Option<&'static str>>,
    fired: Mutex<bool>,
    /// Every message body the queue took.
    sent: Mutex<Vec<String>>,
}

impl Armed {
    pub fn arm(&self, step: &'static str) {
        *self.step.lock().unwrap() = Some(step);
    }

    /// Whether the armed step was reached (and failed).
    pub fn fired(&self) -> bool {
        *self.fired.lock().unwrap()
    }

    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Hook for Armed {
    async fn before(&self, call: &Call<'_>) -> Result<(), Fault> {
        let mut armed = self.step.lock().unwrap();
        if *armed != Some(call.step) {
            return Ok(());
        }
        *armed = None;
        *self.fired.lock().unwrap() = true;
        Err(Fault::Outage(format!("injected at {}", call.step)))
    }

    fn after(&self, call: &Call<'_>) {
        if call.step == "queue.send" {
            self.sent.lock().unwrap().push(call.subject.to_owned());
        }
    }
}

/// `backends` with every step able to fail once, and the switch.
pub fn wrap(backends: Backends) -> (Backends, Arc<Armed>) {
    let armed = Arc::new(Armed::default());
    (testing::tap(backends, armed.clone()), armed)
}
