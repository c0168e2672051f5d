//! A data directory of its own for one embedded-mode test, removed when dropped.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct TestDataDir {
    path: PathBuf,
}

impl TestDataDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("pika-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("a temporary data directory");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for TestDataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDataDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.path).ok();
    }
}
