//! The memory adapter of every port (being rewritten).

pub mod faults;
pub mod kv;

pub use kv::MemoryKv;
